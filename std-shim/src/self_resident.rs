//! The resident size of the object (shared library or executable) that
//! holds masu's code, read from `/proc/self/smaps` without allocating: the
//! last source of the statistics report's "where the resident bytes are".
//! For `libmasu.so` that object is masu alone (with what it links in from
//! Rust's standard library); for `masu::Masu` as the global allocator it is
//! the whole program.

use core::ffi::CStr;

/// Resident bytes of the mappings of the object holding this code, with its
/// path; None when it cannot be found or `/proc` cannot be read.
pub fn own_object_resident() -> Option<(usize, [u8; 256], usize)> {
    let path = own_object_path()?;
    let mut name = [0u8; 256];
    let len = path.len().min(name.len());
    name[..len].copy_from_slice(&path[..len]);
    let kb = sum_rss_kb(path)?;
    Some((kb * 1024, name, len))
}

/// The path of the object holding this function (from `dladdr`).
fn own_object_path() -> Option<&'static [u8]> {
    // SAFETY: `info` is a valid out-pointer; dladdr does not allocate.
    let mut info: libc::Dl_info = unsafe { core::mem::zeroed() };
    let here = own_object_resident as *const libc::c_void;
    // SAFETY: as above.
    if unsafe { libc::dladdr(here, &mut info) } == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dladdr's file name is a NUL-terminated string owned by the
    // dynamic linker for as long as the object stays loaded (always).
    Some(unsafe { CStr::from_ptr(info.dli_fname) }.to_bytes())
}

/// The sum of the `Rss:` lines of the mappings in `/proc/self/smaps` whose
/// path ends with the file name of `path` (the executable appears under
/// its full path, `dladdr` may give a relative one).
fn sum_rss_kb(path: &[u8]) -> Option<usize> {
    let file = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
    // SAFETY: a NUL-terminated path; the descriptor is closed below.
    let fd = unsafe { libc::open(c"/proc/self/smaps".as_ptr(), libc::O_RDONLY) };
    if fd < 0 {
        return None;
    }
    let mut buf = [0u8; 4096];
    let mut line = [0u8; 512];
    let (mut used, mut total, mut ours) = (0usize, 0usize, false);
    loop {
        // SAFETY: reads into the stack buffer.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
        if n <= 0 {
            break;
        }
        for &b in &buf[..n as usize] {
            if b != b'\n' {
                if used < line.len() {
                    line[used] = b;
                    used += 1;
                }
                continue;
            }
            let l = &line[..used];
            used = 0;
            if is_mapping_header(l) {
                ours = l.ends_with(file)
                    && l.len() > file.len()
                    && l[l.len() - file.len() - 1] == b'/';
            } else if ours && l.starts_with(b"Rss:") {
                total += parse_kb(&l[4..]);
            }
        }
    }
    // SAFETY: closes the descriptor opened above.
    unsafe { libc::close(fd) };
    Some(total)
}

/// True for a mapping line (`start-end perms ...`) as opposed to a
/// `Field: value` line.
fn is_mapping_header(l: &[u8]) -> bool {
    let first = l.split(|&b| b == b' ').next().unwrap_or(&[]);
    first.contains(&b'-') && first.iter().all(|b| b.is_ascii_hexdigit() || *b == b'-')
}

/// The number in `"   1234 kB"`.
fn parse_kb(s: &[u8]) -> usize {
    s.iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take_while(|b| b.is_ascii_digit())
        .fold(0usize, |v, &d| v * 10 + (d - b'0') as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smaps_lines_parse() {
        assert!(is_mapping_header(
            b"7f26305b2000-7f26305d8000 r--p 00000000 08:01 1234 /usr/lib/libc.so.6"
        ));
        assert!(!is_mapping_header(b"Rss:                 152 kB"));
        assert!(!is_mapping_header(b"VmFlags: rd mr mw me"));
        assert_eq!(parse_kb(b"       152 kB"), 152);
    }

    #[test]
    fn the_test_binary_is_resident() {
        // Under `cargo test` masu's code is in the test executable, which
        // is certainly resident while it runs.
        let (bytes, name, len) = own_object_resident().expect("smaps readable");
        assert!(bytes >= 4096, "{bytes}");
        assert!(len > 0 && name[..len].iter().any(|&b| b != 0));
    }
}
