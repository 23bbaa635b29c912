//! `treejson` checked against rustic's own decoding of the same JSON, node by node.

use super::*;

/// rustic's reading of a tree, for comparison.
#[derive(Deserialize)]
struct RusticTree {
    nodes: Vec<ResticNode>,
}

fn tree_id() -> TreeId {
    TreeId::from(Id::new([7; 32]))
}

fn both(json: &str) -> (NamedNodes, NamedNodes) {
    let ours = decode(json.as_bytes(), &tree_id()).unwrap_or_default();
    let theirs: RusticTree = serde_json::from_str(json).unwrap_or(RusticTree { nodes: vec![] });
    let theirs = theirs.nodes.into_iter().map(Stored::of_rustic).collect();
    (ours, theirs)
}

const ID_A: &str = "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881";
const ID_B: &str = "A1FCE4363854FF888CFF4B8E7875D600C2682390412A8CF79B37D0B11148B0FA";

#[test]
fn every_kind_of_node_reads_as_rustic_reads_it() {
    let json = format!(
        r#"{{"nodes":[
        {{"name":"plain","type":"file","mode":420,"mtime":"2026-12-04T04:14:38.318358709Z","atime":"2026-12-04T05:14:38.3+01:00","ctime":"1969-12-31T23:59:59.999999999Z","uid":1000,"gid":100,"user":"u","group":"g","inode":10019053,"device_id":65024,"size":1,"links":2,"content":["{ID_A}","{ID_B}"]}},
        {{"name":"a\\\\b","type":"file","mode":420,"mtime":"1900-02-28T10:00:00-05:30","content":null}},
        {{"name":"c\\xffd","type":"file","content":[]}},
        {{"name":"dir","type":"dir","mode":2147484141,"mtime":"0001-01-01T00:00:00Z","subtree":"{ID_A}","extended_attributes":[{{"name":"user.colour","value":"Ymx1ZQ=="}},{{"name":"user.empty","value":null}}]}},
        {{"name":"link","type":"symlink","mode":134218239,"linktarget":"size-4096"}},
        {{"name":"rawlink","type":"symlink","linktarget":"\ufffd","linktarget_raw":"/3g="}},
        {{"name":"sda","type":"dev","mode":67109296,"device":2048,"generic_attributes":{{"x":"y"}}}},
        {{"name":"tty","type":"chardev","device":1280}},
        {{"name":"fifo","type":"fifo","mtime":"2024-02-29T23:59:59.5Z"}},
        {{"name":"sock","type":"socket","uid":0}}
        ]}}"#
    );
    let (ours, theirs) = both(&json);
    assert_eq!(ours.len(), 10);
    assert_eq!(ours, theirs);
    // restic quotes these names; rustic undoes the quoting on Unix only, and so does genmount.
    if cfg!(unix) {
        assert_eq!(ours[1].0, b"a\\b");
        assert_eq!(ours[2].0, b"c\xffd");
    }
    assert_eq!(ours[5].1.link_target.as_deref(), Some(&b"\xffx"[..]));
}

#[test]
fn a_node_of_an_unknown_type_is_left_out_and_the_rest_kept() {
    let json = r#"{"nodes":[{"name":"odd","type":"irregular"},{"name":"f","type":"file"}]}"#;
    let nodes = decode(json.as_bytes(), &tree_id()).unwrap_or_default();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0].0, b"f");
}

#[test]
fn a_tree_without_nodes_is_empty() {
    for json in [r#"{"nodes":null}"#, r#"{"nodes":[]}"#, "{}"] {
        assert_eq!(decode(json.as_bytes(), &tree_id()), Ok(vec![]), "{json}");
    }
}

#[test]
fn damaged_json_and_bad_ids_are_errors() {
    let short = r#"{"nodes":[{"name":"f","type":"file","content":["abc"]}]}"#;
    let not_hex = format!(
        r#"{{"nodes":[{{"name":"d","type":"dir","subtree":"{}"}}]}}"#,
        "g".repeat(64)
    );
    for json in [
        short,
        &not_hex,
        r#"{"nodes":[{"name":"x"}]}"#,
        "{\"nodes\":[",
        "",
    ] {
        assert!(decode(json.as_bytes(), &tree_id()).is_err(), "{json}");
    }
}

#[test]
fn times_read_as_jiff_reads_them() {
    let samples = [
        "1970-01-01T00:00:00Z",
        "1969-12-31T23:59:59.000000001Z",
        "2000-02-29T12:00:00.123Z",
        "2100-03-01T00:00:00+14:00",
        "1600-12-31T23:59:59.999999999-12:59",
        "0001-01-01T00:00:00Z",
        "2026-12-04T04:14:38.31835870Z",
    ];
    for text in samples {
        let jiff: jiff::Timestamp = text.parse().unwrap_or_default();
        assert_eq!(
            rfc3339(text.as_bytes()),
            Some(node::timestamp(&jiff)),
            "{text}"
        );
    }
    // Beyond jiff's range (it stops a day short of year 10000), and still read.
    let last = Timestamp::new(253_402_300_799, 0);
    assert_eq!(rfc3339(b"9999-12-31T23:59:59Z"), Some(last));
    for step in 0..2000i64 {
        let secs = -62_135_596_800 + step * 126_230_400_000 / 2000 + step * 7919;
        let Ok(ts) = jiff::Timestamp::new(secs, (step * 997) as i32) else {
            continue;
        };
        let text = ts.to_string();
        assert_eq!(
            rfc3339(text.as_bytes()),
            Some(node::timestamp(&ts)),
            "{text}"
        );
    }
}

#[test]
fn times_of_another_shape_go_to_jiff_or_are_left_out() {
    assert_eq!(rfc3339(b"2026-02-30T00:00:00Z"), None);
    assert_eq!(rfc3339(b"2026-12-04T04:14:38.Z"), None);
    assert_eq!(rfc3339(b"2026-12-04T04:14:38.1234567890Z"), None);
    assert_eq!(rfc3339(b"2026-12-04T04:14:38"), None);
    assert_eq!(rfc3339(b"2026-12-04"), None);
    assert_eq!(
        parse_time("2026-12-04T04:14:38+0100"),
        rfc3339(b"2026-12-04T03:14:38Z")
    );
    assert_eq!(parse_time("yesterday"), None);
}
