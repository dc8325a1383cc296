//! The attach protocol between `sifrun oci attach` and the monitor (SOCK_SEQPACKET),
//! shared by both ends. Attach protocol, one message per packet. Monitor → client: `[2]`+stdout bytes,
//! `[3]`+stderr bytes (conmon's numbering), `[4]`+exit code (i32 LE) just before the
//! monitor closes. Client → monitor: `b'i'`+stdin bytes, `b'w'`+rows,cols (u16 LE) for
//! a terminal resize, `b'c'` to close the process's stdin (pipes only).

pub const STDOUT: u8 = 2;
pub const STDERR: u8 = 3;
pub const EXIT: u8 = 4;
pub const STDIN: u8 = b'i';
pub const WINSIZE: u8 = b'w';
pub const CLOSE_STDIN: u8 = b'c';
/// Largest data part of a packet, as conmon.
pub const PACKET_DATA: usize = 8192;

/// One message: its kind byte, then the data.
pub fn packet(kind: u8, data: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(data.len() + 1);
    p.push(kind);
    p.extend_from_slice(data);
    p
}
