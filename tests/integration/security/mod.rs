//! Security: regressions for known container-runtime CVEs ([`cves`]), hostile input
//! to every command ([`hostile_input`]), and the fuzz harnesses' regression inputs
//! replayed ([`fuzz_regressions`]).

mod cves;
mod fuzz_regressions;
mod hostile_input;
