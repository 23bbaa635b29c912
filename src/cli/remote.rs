//! restic's own remote locations (`s3:`, `b2:`, `azure:`, `gs:`, `sftp:`, `swift:`) and `opendal:`
//! locations with `?key=value` options, as the OpenDAL location and options rustic_backend reads.

use std::collections::BTreeMap;

/// A repository as rustic_backend's OpenDAL backend opens it.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct OpenDal {
    /// `opendal:SERVICE:…`: rustic_backend takes the service from what precedes the second `:` and
    /// ignores the rest, which keeps the location recognisable in messages.
    pub(super) location: String,
    /// The OpenDAL service's configuration (`bucket`, `root`, `endpoint`, …).
    pub(super) options: BTreeMap<String, String>,
}

/// Options from the environment variables restic reads, per OpenDAL service: (service, option, variable).
const ENVIRONMENT: [(&str, &str, &str); 9] = [
    ("b2", "application_key_id", "B2_ACCOUNT_ID"),
    ("b2", "application_key", "B2_ACCOUNT_KEY"),
    ("azblob", "account_name", "AZURE_ACCOUNT_NAME"),
    ("azblob", "account_key", "AZURE_ACCOUNT_KEY"),
    ("azblob", "sas_token", "AZURE_ACCOUNT_SAS"),
    ("gcs", "credential_path", "GOOGLE_APPLICATION_CREDENTIALS"),
    ("gcs", "token", "GOOGLE_ACCESS_TOKEN"),
    ("swift", "endpoint", "OS_STORAGE_URL"),
    ("swift", "token", "OS_AUTH_TOKEN"),
];

/// `repo` as an OpenDAL location; `None` when it is none of the remote forms.
pub(super) fn parse(repo: &str) -> Option<Result<OpenDal, String>> {
    let (scheme, rest) = repo.split_once(':')?;
    let (body, query) = rest.split_once('?').unwrap_or((rest, ""));
    let service = match scheme {
        "opendal" => return Some(opendal(body, query)),
        "s3" => "s3",
        "b2" => "b2",
        "azure" => "azblob",
        "gs" => "gcs",
        "sftp" => "sftp",
        "swift" => "swift",
        _ => return None,
    };
    let parsed = match service {
        "s3" => s3(body),
        "sftp" => sftp(body),
        _ => bucket_and_path(body, scheme, service),
    };
    Some(parsed.and_then(|mut options| {
        options.extend(query_options(query)?);
        Ok(OpenDal {
            location: format!("opendal:{service}:{body}"),
            options,
        })
    }))
}

/// Fills in what restic takes from its environment variables (`var` reads one), where the location
/// did not set it; refuses what OpenDAL would need and cannot be found.
pub(super) fn add_environment(
    repo: &mut OpenDal,
    var: impl Fn(&str) -> Option<String>,
) -> Result<(), String> {
    let service = service_of(&repo.location).to_string();
    for (_, option, name) in ENVIRONMENT.iter().filter(|(s, ..)| *s == service) {
        if let (false, Some(value)) = (repo.options.contains_key(*option), var(name)) {
            repo.options.insert((*option).to_string(), value);
        }
    }
    let options = &mut repo.options;
    match service.as_str() {
        // restic lets the S3 library find the region; OpenDAL needs one, and restic's default is this.
        "s3" if var("AWS_REGION").is_none() && var("AWS_DEFAULT_REGION").is_none() => {
            options
                .entry("region".into())
                .or_insert_with(|| "us-east-1".into());
        }
        "azblob" if !options.contains_key("endpoint") => {
            let suffix = var("AZURE_ENDPOINT_SUFFIX").unwrap_or_else(|| "core.windows.net".into());
            if let Some(account) = options.get("account_name") {
                let endpoint = format!("https://{account}.blob.{suffix}");
                options.insert("endpoint".into(), endpoint);
            }
        }
        "b2" if !options.contains_key("bucket_id") => {
            return Err(
                "OpenDAL's B2 service needs the bucket's id as well as its name: add ?bucket_id=ID to the location"
                    .into(),
            );
        }
        _ => {}
    }
    Ok(())
}

/// `opendal:SERVICE:…` → `SERVICE`.
fn service_of(location: &str) -> &str {
    let rest = location.strip_prefix("opendal:").unwrap_or(location);
    rest.split(':').next().unwrap_or(rest)
}

/// `opendal:SERVICE?key=value&…`: rustic_backend's own form, with its options in the query.
fn opendal(body: &str, query: &str) -> Result<OpenDal, String> {
    let service = body.split(':').next().unwrap_or(body);
    if service.is_empty() {
        return Err("an opendal: location names an OpenDAL service (opendal:s3?bucket=…)".into());
    }
    Ok(OpenDal {
        location: format!("opendal:{body}"),
        options: query_options(query)?,
    })
}

/// `key=value&key=value`; values cannot hold `&`.
fn query_options(query: &str) -> Result<BTreeMap<String, String>, String> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
            _ => Err(format!("'{pair}' is no key=value option")),
        })
        .collect()
}

/// `s3:[http[s]://]HOST/BUCKET[/PREFIX]`, as restic writes it; HTTPS unless told otherwise.
fn s3(body: &str) -> Result<BTreeMap<String, String>, String> {
    let (protocol, rest) = match body.split_once("://") {
        Some((protocol @ ("http" | "https"), rest)) => (protocol, rest),
        Some((other, _)) => return Err(format!("s3: {other}:// is neither http:// nor https://")),
        None => ("https", body),
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
    if host.is_empty() || bucket.is_empty() {
        return Err("an s3: location is s3:HOST/BUCKET[/PATH] (s3:s3.amazonaws.com/bucket)".into());
    }
    let mut options = BTreeMap::from([
        ("endpoint".to_string(), format!("{protocol}://{host}")),
        ("bucket".to_string(), bucket.to_string()),
        ("root".to_string(), root(prefix)),
    ]);
    if let Some(region) = aws_region(host) {
        options.insert("region".into(), region.to_string());
    }
    Ok(options)
}

/// The region an AWS endpoint names: `s3.eu-west-1.amazonaws.com`, `s3-eu-west-1.amazonaws.com`.
fn aws_region(host: &str) -> Option<&str> {
    let name = host.split(':').next()?.strip_suffix(".amazonaws.com")?;
    let region = name
        .strip_prefix("s3.")
        .or_else(|| name.strip_prefix("s3-"))?;
    (!region.is_empty() && !region.contains('.')).then_some(region)
}

/// `b2:BUCKET:PATH`, `azure:CONTAINER:PATH`, `gs:BUCKET:PATH`, `swift:CONTAINER:PATH`.
fn bucket_and_path(
    body: &str,
    scheme: &str,
    service: &str,
) -> Result<BTreeMap<String, String>, String> {
    let (bucket, path) = body.split_once(':').unwrap_or((body, ""));
    if bucket.is_empty() {
        return Err(format!("a {scheme}: location is {scheme}:BUCKET:PATH"));
    }
    let key = if matches!(service, "azblob" | "swift") {
        "container"
    } else {
        "bucket"
    };
    Ok(BTreeMap::from([
        (key.to_string(), bucket.to_string()),
        ("root".to_string(), root(path)),
    ]))
}

/// `sftp:[USER@]HOST:/PATH` or `sftp://[USER@]HOST[:PORT]//PATH`. OpenDAL takes every root as
/// absolute, so restic's paths relative to the home directory are refused rather than misread.
fn sftp(body: &str) -> Result<BTreeMap<String, String>, String> {
    let (endpoint, path) = match body.strip_prefix("//") {
        Some(url) => {
            let (authority, path) = url.split_once('/').unwrap_or((url, ""));
            (format!("ssh://{authority}"), path)
        }
        None => {
            let (host, path) = body.split_once(':').unwrap_or((body, ""));
            (host.to_string(), path)
        }
    };
    if endpoint.is_empty() || endpoint == "ssh://" {
        return Err("an sftp: location is sftp:[USER@]HOST:/PATH".into());
    }
    if !path.starts_with('/') {
        return Err(format!(
            "sftp: '{path}' is relative to the home directory, which OpenDAL does not read: give the full path (sftp:user@host:/home/user/repo)"
        ));
    }
    Ok(BTreeMap::from([
        ("endpoint".to_string(), endpoint),
        ("root".to_string(), path.to_string()),
    ]))
}

/// A path inside a bucket as an OpenDAL root: absolute, `/` for the whole bucket.
fn root(path: &str) -> String {
    format!("/{}", path.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn mapped(repo: &str) -> Option<(String, BTreeMap<String, String>)> {
        let OpenDal { location, options } = parse(repo)?.ok()?;
        Some((location, options))
    }

    #[test]
    fn s3_locations_name_endpoint_bucket_and_prefix() {
        assert_eq!(
            mapped("s3:s3.amazonaws.com/bucket/some/repo"),
            Some((
                "opendal:s3:s3.amazonaws.com/bucket/some/repo".into(),
                options(&[
                    ("endpoint", "https://s3.amazonaws.com"),
                    ("bucket", "bucket"),
                    ("root", "/some/repo"),
                ])
            ))
        );
        let (_, minio) = mapped("s3:http://localhost:9000/restic").unwrap_or_default();
        assert_eq!(
            minio,
            options(&[
                ("endpoint", "http://localhost:9000"),
                ("bucket", "restic"),
                ("root", "/"),
            ])
        );
        let (_, regional) = mapped("s3:https://s3.eu-west-1.amazonaws.com/b").unwrap_or_default();
        assert_eq!(
            regional.get("region").map(String::as_str),
            Some("eu-west-1")
        );
        for bad in [
            "s3:",
            "s3:host",
            "s3:host/",
            "s3:ftp://host/b",
            "s3:https:///b",
        ] {
            assert!(matches!(parse(bad), Some(Err(_))), "{bad}");
        }
    }

    #[test]
    fn bucket_forms_name_the_bucket_or_container_and_root() {
        let bucket = mapped;
        assert_eq!(
            bucket("b2:mybucket:path/to/repo"),
            Some((
                "opendal:b2:mybucket:path/to/repo".into(),
                options(&[("bucket", "mybucket"), ("root", "/path/to/repo")])
            ))
        );
        assert_eq!(
            bucket("azure:box:/restic"),
            Some((
                "opendal:azblob:box:/restic".into(),
                options(&[("container", "box"), ("root", "/restic")])
            ))
        );
        assert_eq!(
            bucket("gs:photos:/"),
            Some((
                "opendal:gcs:photos:/".into(),
                options(&[("bucket", "photos"), ("root", "/")])
            ))
        );
        assert_eq!(
            bucket("swift:c:/r").map(|(_, o)| o),
            Some(options(&[("container", "c"), ("root", "/r")]))
        );
        assert!(matches!(parse("b2::path"), Some(Err(_))));
    }

    #[test]
    fn sftp_locations_need_an_absolute_path() {
        assert_eq!(
            mapped("sftp:me@host:/srv/repo").map(|(_, o)| o),
            Some(options(&[("endpoint", "me@host"), ("root", "/srv/repo")]))
        );
        assert_eq!(
            mapped("sftp://me@host:2222//srv/repo").map(|(_, o)| o),
            Some(options(&[
                ("endpoint", "ssh://me@host:2222"),
                ("root", "/srv/repo")
            ]))
        );
        for relative in ["sftp:me@host:repo", "sftp://me@host/repo", "sftp:host"] {
            assert!(matches!(parse(relative), Some(Err(_))), "{relative}");
        }
    }

    #[test]
    fn query_options_are_added_and_win() {
        assert_eq!(
            mapped("opendal:s3?bucket=b&root=/r&region=auto"),
            Some((
                "opendal:s3".into(),
                options(&[("bucket", "b"), ("root", "/r"), ("region", "auto")])
            ))
        );
        assert_eq!(
            mapped("b2:bk:p?bucket_id=42&root=/other"),
            Some((
                "opendal:b2:bk:p".into(),
                options(&[("bucket", "bk"), ("bucket_id", "42"), ("root", "/other")])
            ))
        );
        assert_eq!(
            mapped("opendal:memory"),
            Some(("opendal:memory".into(), options(&[])))
        );
        assert!(matches!(parse("opendal:s3?bucket"), Some(Err(_))));
        assert!(matches!(parse("opendal:?a=b"), Some(Err(_))));
    }

    #[test]
    fn other_locations_are_no_remote_form() {
        for repo in [
            "/srv/repo",
            "local:/srv",
            "rest:http://h/",
            "rclone:r:b",
            r"S:\backups",
        ] {
            assert_eq!(parse(repo), None, "{repo}");
        }
    }

    #[test]
    fn restic_environment_variables_fill_in_credentials() {
        let env = |name: &str| match name {
            "B2_ACCOUNT_ID" => Some("id".to_string()),
            "B2_ACCOUNT_KEY" => Some("key".to_string()),
            "AZURE_ACCOUNT_NAME" => Some("acct".to_string()),
            _ => None,
        };
        let with_env = |repo: &str| {
            let mut remote = parse(repo)?.ok()?;
            add_environment(&mut remote, env).ok()?;
            Some(remote.options)
        };
        let b2 = with_env("b2:bk:p?bucket_id=42&application_key=given").unwrap_or_default();
        assert_eq!(b2.get("application_key_id").map(String::as_str), Some("id"));
        assert_eq!(b2.get("application_key").map(String::as_str), Some("given"));
        assert_eq!(with_env("b2:bk:p"), None, "no bucket id: refused");
        let azure = with_env("azure:box:/r").unwrap_or_default();
        assert_eq!(
            azure.get("endpoint").map(String::as_str),
            Some("https://acct.blob.core.windows.net")
        );
        let s3 = with_env("s3:minio:9000/b").unwrap_or_default();
        assert_eq!(s3.get("region").map(String::as_str), Some("us-east-1"));
        let mut regional = parse("s3:minio/b")
            .and_then(Result::ok)
            .expect("s3:minio/b parses");
        let aws_region =
            |name: &str| (name == "AWS_DEFAULT_REGION").then(|| "eu-north-1".to_string());
        assert_eq!(add_environment(&mut regional, aws_region), Ok(()));
        assert_eq!(
            regional.options.get("region"),
            None,
            "OpenDAL reads AWS_DEFAULT_REGION itself"
        );
    }
}
