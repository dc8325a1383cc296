//! Read-only loop devices over a byte range of a file, set up with ioctls directly
//! (no losetup): LOOP_CTL_GET_FREE, then LOOP_CONFIGURE (one atomic call, Linux ≥ 5.8)
//! or LOOP_SET_FD + LOOP_SET_STATUS64 on older kernels.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const LOOP_SET_FD: libc::c_ulong = 0x4C00;
const LOOP_CLR_FD: libc::c_ulong = 0x4C01;
const LOOP_SET_STATUS64: libc::c_ulong = 0x4C04;
const LOOP_CONFIGURE: libc::c_ulong = 0x4C0A;
const LOOP_CTL_GET_FREE: libc::c_ulong = 0x4C82;
const LO_FLAGS_READ_ONLY: u32 = 1;
const LO_FLAGS_AUTOCLEAR: u32 = 4;

#[repr(C)]
#[derive(Clone, Copy)]
struct LoopInfo64 {
    lo_device: u64,
    lo_inode: u64,
    lo_rdevice: u64,
    lo_offset: u64,
    lo_sizelimit: u64,
    lo_number: u32,
    lo_encrypt_type: u32,
    lo_encrypt_key_size: u32,
    lo_flags: u32,
    lo_file_name: [u8; 64],
    lo_crypt_name: [u8; 64],
    lo_encrypt_key: [u8; 32],
    lo_init: [u64; 2],
}

#[repr(C)]
struct LoopConfig {
    fd: u32,
    block_size: u32,
    info: LoopInfo64,
    reserved: [u64; 8],
}

/// An attached loop device. With autoclear the kernel detaches it when the last user
/// (the squashfs mount) goes away, so dropping this handle after mounting is enough.
#[derive(Debug)]
pub struct LoopDevice {
    pub path: PathBuf,
    pub number: u32,
    file: File,
}

fn ioctl(fd: i32, req: libc::c_ulong, arg: libc::c_ulong) -> std::io::Result<i32> {
    // SAFETY: plain ioctl on an fd we own; arg points to a live struct or is an int.
    let r = unsafe { libc::ioctl(fd, req as _, arg) };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn info(offset: u64, size: u64, backing: &Path) -> LoopInfo64 {
    let mut name = [0u8; 64];
    let b = backing.as_os_str().as_encoded_bytes();
    let n = b.len().min(63);
    name[..n].copy_from_slice(&b[..n]);
    LoopInfo64 {
        lo_device: 0,
        lo_inode: 0,
        lo_rdevice: 0,
        lo_offset: offset,
        lo_sizelimit: size,
        lo_number: 0,
        lo_encrypt_type: 0,
        lo_encrypt_key_size: 0,
        lo_flags: LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR,
        lo_file_name: name,
        lo_crypt_name: [0; 64],
        lo_encrypt_key: [0; 32],
        lo_init: [0; 2],
    }
}

impl LoopDevice {
    /// Attach `backing[offset .. offset+size)` read-only with autoclear.
    pub fn attach(backing: &Path, offset: u64, size: u64) -> Result<Self> {
        let lerr = |m: String| Error::Loop(m);
        let img = File::open(backing).map_err(|e| Error::io(backing, e))?;
        let ctl = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/loop-control")
            .map_err(|e| lerr(format!("/dev/loop-control: {e}")))?;
        // Another process may grab the same free device between GET_FREE and
        // CONFIGURE (EBUSY), and GET_FREE hands every racer the same one: of N
        // concurrent mounts one wins per round. Retry with a fresh number for up to
        // 10 s, after a jittered pause so that the racers spread out.
        let mut last = None;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut jitter = std::process::id().wrapping_mul(2_654_435_761);
        for attempt in 0u32.. {
            if attempt > 0 {
                if std::time::Instant::now() >= deadline {
                    break;
                }
                jitter ^= jitter << 13;
                jitter ^= jitter >> 17;
                jitter ^= jitter << 5;
                std::thread::sleep(std::time::Duration::from_micros(
                    u64::from(jitter % 2000) + 100,
                ));
            }
            let n = ioctl(ctl.as_raw_fd(), LOOP_CTL_GET_FREE, 0)
                .map_err(|e| lerr(format!("LOOP_CTL_GET_FREE: {e}")))?;
            let path = PathBuf::from(format!("/dev/loop{n}"));
            let dev = match OpenOptions::new().read(true).open(&path) {
                Ok(f) => f,
                Err(e) => {
                    last = Some(format!("{}: {e}", path.display()));
                    continue;
                }
            };
            let cfg = LoopConfig {
                fd: img.as_raw_fd() as u32,
                block_size: 0,
                info: info(offset, size, backing),
                reserved: [0; 8],
            };
            match ioctl(
                dev.as_raw_fd(),
                LOOP_CONFIGURE,
                &cfg as *const _ as libc::c_ulong,
            ) {
                Ok(_) => {
                    return Ok(LoopDevice {
                        path,
                        number: n as u32,
                        file: dev,
                    })
                }
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    last = Some(format!("{}: {e}", path.display()));
                    continue;
                }
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOTTY)) => {
                    // Pre-5.8 kernel: two-step setup.
                    match ioctl(
                        dev.as_raw_fd(),
                        LOOP_SET_FD,
                        img.as_raw_fd() as libc::c_ulong,
                    ) {
                        Ok(_) => {}
                        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                            last = Some(format!("{}: {e}", path.display()));
                            continue;
                        }
                        Err(e) => return Err(lerr(format!("LOOP_SET_FD {}: {e}", path.display()))),
                    }
                    let i = info(offset, size, backing);
                    if let Err(e) = ioctl(
                        dev.as_raw_fd(),
                        LOOP_SET_STATUS64,
                        &i as *const _ as libc::c_ulong,
                    ) {
                        let _ = ioctl(dev.as_raw_fd(), LOOP_CLR_FD, 0);
                        return Err(lerr(format!("LOOP_SET_STATUS64 {}: {e}", path.display())));
                    }
                    return Ok(LoopDevice {
                        path,
                        number: n as u32,
                        file: dev,
                    });
                }
                Err(e) => return Err(lerr(format!("LOOP_CONFIGURE {}: {e}", path.display()))),
            }
        }
        Err(lerr(format!(
            "no free loop device ({})",
            last.unwrap_or_default()
        )))
    }

    /// Detach now (used when the mount on top failed).
    pub fn detach(self) -> Result<()> {
        ioctl(self.file.as_raw_fd(), LOOP_CLR_FD, 0)
            .map(|_| ())
            .map_err(|e| Error::Loop(format!("LOOP_CLR_FD {}: {e}", self.path.display())))
    }
}

/// Backing file, offset of an attached loop device, from sysfs (None if detached).
pub fn backing_of(number: u32) -> Option<(PathBuf, u64)> {
    let base = format!("/sys/block/loop{number}/loop");
    let file = std::fs::read_to_string(format!("{base}/backing_file")).ok()?;
    let off = std::fs::read_to_string(format!("{base}/offset"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some((PathBuf::from(file.trim_end_matches('\n')), off))
}

/// Detach a loop device if it still serves `backing` at `offset`; autoclear normally
/// did it already at unmount, and the number may have been reused since, hence the check.
pub fn detach_if_ours(number: u32, backing: &Path, offset: u64) -> Result<()> {
    // Autoclear runs when the last reference drops, which can lag the umount a little.
    for _ in 0..50 {
        match backing_of(number) {
            Some((b, o)) if b == backing && o == offset => {
                std::thread::sleep(std::time::Duration::from_millis(2))
            }
            _ => return Ok(()),
        }
    }
    let path = format!("/dev/loop{number}");
    let f = File::open(&path).map_err(|e| Error::Loop(format!("{path}: {e}")))?;
    match ioctl(f.as_raw_fd(), LOOP_CLR_FD, 0) {
        Ok(_) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => Ok(()),
        Err(e) => Err(Error::Loop(format!("LOOP_CLR_FD {path}: {e}"))),
    }
}
