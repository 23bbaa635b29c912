//! The Windows adapter (WinFsp): serves a `VfsTree` on a drive letter or a new folder. It only
//! translates: paths, names, file info, reparse points and listings are decided in `src/win`.

use std::ffi::c_void;
use std::sync::Arc;
use std::sync::mpsc;

use winfsp::filesystem::{
    DirBuffer, DirInfo, DirMarker, FileInfo, FileSecurity, FileSystemContext, OpenFileInfo,
    VolumeInfo, WideNameInfo,
};
use winfsp::host::{FileSystemHost, VolumeParams};
use winfsp::{FspError, U16CStr};

use crate::error::{OpenError, VfsError};
use crate::platform::ntstatus::ntstatus;
use crate::session::MountRequest;
use crate::vfs::{Entry, OpenMode, ROOT_INO, VfsTree};
use crate::win::dircache::{DEFAULT_CAPACITY, DirCache};
use crate::win::mountpoint::{WinTarget, choose};
use crate::win::{info, path, reparse};

const STATUS_END_OF_FILE: i32 = 0xC000_0011_u32 as i32;
const STATUS_NOT_A_REPARSE_POINT: i32 = 0xC000_0275_u32 as i32;
const STATUS_BUFFER_TOO_SMALL: i32 = 0xC000_0023_u32 as i32;

fn fail(err: VfsError) -> FspError {
    FspError::NTSTATUS(ntstatus(err) as i32)
}

/// The tree served to WinFsp, the directories kept for it, and the one security descriptor every
/// file has.
struct WinFs<T: VfsTree> {
    tree: Arc<T>,
    dirs: Arc<DirCache>,
    security: Vec<u8>,
    volname: String,
    hide_dot_files: bool,
}

/// An open file or directory: the node (one lookup held), its open handle, its listing buffer.
struct Handle {
    resolved: path::Resolved,
    fh: Option<u64>,
    dir: DirBuffer,
}

fn fill(file_info: &mut FileInfo, entry: &Entry, name: &[u8], hide_dot_files: bool) {
    let w = info::file_info(entry.attr.ino, &entry.attr.meta, name, hide_dot_files);
    file_info.file_attributes = w.attributes;
    file_info.reparse_tag = w.reparse_tag;
    file_info.allocation_size = w.allocation_size;
    file_info.file_size = w.file_size;
    file_info.creation_time = w.creation_time;
    file_info.last_access_time = w.last_access_time;
    file_info.last_write_time = w.last_write_time;
    file_info.change_time = w.change_time;
    file_info.index_number = w.index_number;
    // WinFsp asks for 0 here unless the volume reports hard links.
    file_info.hard_links = 0;
}

impl<T: VfsTree> WinFs<T> {
    fn copy_security(&self, buffer: Option<&mut [c_void]>) {
        if let Some(buffer) = buffer
            && buffer.len() >= self.security.len()
        {
            // SAFETY: the buffer holds at least security.len() bytes, and the two cannot overlap.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    self.security.as_ptr(),
                    buffer.as_mut_ptr().cast::<u8>(),
                    self.security.len(),
                )
            };
        }
    }

    fn reparse_data(&self, resolved: &path::Resolved) -> winfsp::Result<Vec<u8>> {
        if resolved.entry.attr.meta.kind != crate::meta::FileKind::Symlink {
            return Err(FspError::NTSTATUS(STATUS_NOT_A_REPARSE_POINT));
        }
        let target = self.tree.readlink(resolved.entry.attr.ino).map_err(fail)?;
        let (windows_target, _relative) = path::windows_link_target(&target);
        Ok(reparse::symlink_reparse_point(&windows_target))
    }
}

fn copy_out(data: &[u8], buffer: &mut [u8]) -> winfsp::Result<u64> {
    if !buffer.is_empty() {
        if buffer.len() < data.len() {
            return Err(FspError::NTSTATUS(STATUS_BUFFER_TOO_SMALL));
        }
        buffer[..data.len()].copy_from_slice(data);
    }
    Ok(data.len() as u64)
}

impl<T: VfsTree> FileSystemContext for WinFs<T> {
    type FileContext = Handle;

    fn get_security_by_name(
        &self,
        file_name: &U16CStr,
        security_descriptor: Option<&mut [c_void]>,
        reparse_point_resolver: impl FnOnce(&U16CStr) -> Option<FileSecurity>,
    ) -> winfsp::Result<FileSecurity> {
        let resolved = match path::resolve(&*self.tree, &self.dirs, &file_name.to_string_lossy()) {
            Ok(resolved) => resolved,
            Err(err) => return reparse_point_resolver(file_name).ok_or_else(|| fail(err)),
        };
        let attributes = info::file_info(
            0,
            &resolved.entry.attr.meta,
            &resolved.raw_name,
            self.hide_dot_files,
        )
        .attributes;
        path::release(&*self.tree, &resolved);
        self.copy_security(security_descriptor);
        Ok(FileSecurity {
            reparse: false,
            sz_security_descriptor: self.security.len() as u64,
            attributes,
        })
    }

    fn open(
        &self,
        file_name: &U16CStr,
        _create_options: u32,
        _granted_access: u32,
        file_info: &mut OpenFileInfo,
    ) -> winfsp::Result<Handle> {
        let _span = tracing::debug_span!("open", name = %file_name.to_string_lossy()).entered();
        let resolved = path::resolve(&*self.tree, &self.dirs, &file_name.to_string_lossy())
            .map_err(fail)?;
        let fh = match resolved.entry.attr.meta.kind {
            crate::meta::FileKind::File => {
                match self.tree.open(resolved.entry.attr.ino, OpenMode::default()) {
                    Ok(opened) => Some(opened.fh),
                    Err(err) => {
                        path::release(&*self.tree, &resolved);
                        return Err(fail(err));
                    }
                }
            }
            _ => None,
        };
        fill(
            file_info.as_mut(),
            &resolved.entry,
            &resolved.raw_name,
            self.hide_dot_files,
        );
        Ok(Handle {
            resolved,
            fh,
            dir: DirBuffer::new(),
        })
    }

    fn close(&self, context: Handle) {
        let ino = context.resolved.entry.attr.ino;
        if let Some(fh) = context.fh {
            // flush first: closing `.pid` re-reads the repository, as on Linux.
            let _ = self.tree.flush(ino, fh);
            let _ = self.tree.release(ino, fh);
        }
        path::release(&*self.tree, &context.resolved);
    }

    fn get_file_info(&self, context: &Handle, file_info: &mut FileInfo) -> winfsp::Result<()> {
        let entry = self
            .tree
            .getattr(context.resolved.entry.attr.ino)
            .map_err(fail)?;
        fill(
            file_info,
            &entry,
            &context.resolved.raw_name,
            self.hide_dot_files,
        );
        Ok(())
    }

    fn get_security(
        &self,
        _context: &Handle,
        security_descriptor: Option<&mut [c_void]>,
    ) -> winfsp::Result<u64> {
        self.copy_security(security_descriptor);
        Ok(self.security.len() as u64)
    }

    fn read(&self, context: &Handle, buffer: &mut [u8], offset: u64) -> winfsp::Result<u32> {
        let ino = context.resolved.entry.attr.ino;
        let fh = context.fh.ok_or_else(|| fail(VfsError::IS_DIR))?;
        let size = u32::try_from(buffer.len()).unwrap_or(u32::MAX);
        let data = self.tree.read(ino, fh, offset, size).map_err(fail)?;
        if data.is_empty() && size > 0 {
            return Err(FspError::NTSTATUS(STATUS_END_OF_FILE));
        }
        buffer[..data.len()].copy_from_slice(&data);
        Ok(data.len() as u32)
    }

    fn read_directory(
        &self,
        context: &Handle,
        _pattern: Option<&U16CStr>,
        marker: DirMarker,
        buffer: &mut [u8],
    ) -> winfsp::Result<u32> {
        let ino = context.resolved.entry.attr.ino;
        if let Ok(lock) = context.dir.acquire(marker.is_none(), None) {
            let mut dir_info: DirInfo = DirInfo::new();
            if ino != ROOT_INO {
                for dot in [".", ".."] {
                    dir_info.reset();
                    dir_info.set_name(dot)?;
                    fill(
                        dir_info.file_info_mut(),
                        &context.resolved.entry,
                        b"",
                        false,
                    );
                    lock.write(&mut dir_info)?;
                }
            }
            let dir = self
                .dirs
                .get(&*self.tree, &context.resolved.entry)
                .map_err(fail)?;
            for child in &dir.children {
                dir_info.reset();
                if dir_info.set_name(child.name.shown.as_str()).is_ok() {
                    fill(
                        dir_info.file_info_mut(),
                        &child.entry,
                        &child.name.raw,
                        self.hide_dot_files,
                    );
                    lock.write(&mut dir_info)?;
                } else {
                    tracing::warn!(name = %child.name.shown, "name longer than Windows allows; not listed");
                }
            }
        }
        Ok(context.dir.read(marker, buffer))
    }

    fn get_volume_info(&self, out_volume_info: &mut VolumeInfo) -> winfsp::Result<()> {
        let stats = self.tree.statfs(ROOT_INO).map_err(fail)?;
        out_volume_info.total_size = stats.blocks.saturating_mul(u64::from(stats.block_size));
        out_volume_info.free_size = 0;
        out_volume_info.set_volume_label(&self.volname);
        Ok(())
    }

    fn get_reparse_point_by_name(
        &self,
        file_name: &U16CStr,
        _is_directory: bool,
        buffer: &mut [u8],
    ) -> winfsp::Result<u64> {
        let resolved = path::resolve(&*self.tree, &self.dirs, &file_name.to_string_lossy())
            .map_err(fail)?;
        let data = self.reparse_data(&resolved);
        path::release(&*self.tree, &resolved);
        copy_out(&data?, buffer)
    }

    fn get_reparse_point(
        &self,
        context: &Handle,
        _file_name: &U16CStr,
        buffer: &mut [u8],
    ) -> winfsp::Result<u64> {
        copy_out(&self.reparse_data(&context.resolved)?, buffer)
    }
}

/// The binary security descriptor of `info::SECURITY_SDDL`.
fn security_descriptor() -> Result<Vec<u8>, OpenError> {
    use windows::Win32::Foundation::{HLOCAL, LocalFree};
    use windows::Win32::Security::Authorization::{
        ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1,
    };
    use windows::Win32::Security::{GetSecurityDescriptorLength, PSECURITY_DESCRIPTOR};
    use windows::core::PCWSTR;
    let wide: Vec<u16> = info::SECURITY_SDDL
        .encode_utf16()
        .chain(std::iter::once(0))
        .collect();
    let mut descriptor = PSECURITY_DESCRIPTOR::default();
    // SAFETY: `wide` is NUL-terminated and outlives the call; `descriptor` receives a LocalAlloc'd block.
    unsafe {
        ConvertStringSecurityDescriptorToSecurityDescriptorW(
            PCWSTR(wide.as_ptr()),
            SDDL_REVISION_1,
            &mut descriptor,
            None,
        )
    }
    .map_err(|err| OpenError::Other(format!("cannot build the security descriptor: {err}")))?;
    // SAFETY: `descriptor` is a valid self-relative descriptor until LocalFree below.
    let bytes = unsafe {
        let len = GetSecurityDescriptorLength(descriptor) as usize;
        std::slice::from_raw_parts(descriptor.0 as *const u8, len).to_vec()
    };
    // SAFETY: the block came from LocalAlloc in the conversion above and is freed once.
    unsafe {
        let _ = LocalFree(Some(HLOCAL(descriptor.0)));
    }
    Ok(bytes)
}

fn volume_params() -> VolumeParams {
    let mut params = VolumeParams::new();
    params
        .sector_size(512)
        .sectors_per_allocation_unit(8)
        .max_component_length(255)
        .case_sensitive_search(false)
        .case_preserved_names(true)
        .unicode_on_disk(true)
        .persistent_acls(true)
        .reparse_points(true)
        .reparse_points_access_check(false)
        .read_only_volume(true)
        .file_info_timeout(1000)
        .filesystem_name("genmount");
    params
}

/// Mounts `tree` and serves it until Ctrl-C (or the console closing) asks genmount to stop.
pub fn mount<T: VfsTree>(tree: T, request: &MountRequest) -> Result<(), OpenError> {
    let _init = winfsp::winfsp_init().map_err(|err| {
        OpenError::Other(format!(
            "WinFsp is not installed or cannot be loaded: {err}"
        ))
    })?;
    let tree = Arc::new(tree);
    let dirs = DirCache::new(DEFAULT_CAPACITY);
    tree.set_kernel_cache(dirs.invalidator());
    let fs = WinFs {
        tree: tree.clone(),
        dirs,
        security: security_descriptor()?,
        volname: request.volname.clone(),
        hide_dot_files: request.hide_dot_files,
    };
    let mut host: FileSystemHost<WinFs<T>> = FileSystemHost::new(volume_params(), fs)
        .map_err(|err| OpenError::Other(format!("cannot create the WinFsp volume: {err}")))?;
    let spec = request.mountpoint.to_string_lossy().into_owned();
    let target = choose(&spec, |letter| {
        std::path::Path::new(&format!("{letter}:\\")).exists()
    })
    .map_err(OpenError::Mountpoint)?;
    let point = match &target {
        WinTarget::Drive(letter) => format!("{letter}:"),
        WinTarget::Folder(folder) => folder.clone(),
    };
    host.mount(point.as_str())
        .map_err(|err| OpenError::Mountpoint(format!("cannot mount at {point}: {err}")))?;
    host.start()
        .map_err(|err| OpenError::Other(format!("cannot serve the volume: {err}")))?;
    crate::session::spawn_background(tree.clone(), request.refresh_interval);
    eprintln!("genmount: mounted at {point}; press Ctrl-C to unmount");
    let (stop, stopped) = mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = stop.send(());
    })
    .map_err(|err| OpenError::Other(format!("cannot handle Ctrl-C: {err}")))?;
    let _ = stopped.recv();
    host.stop();
    host.unmount();
    tree.shutdown();
    Ok(())
}
