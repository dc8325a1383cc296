//! Reliability: load and races ([`concurrency`]), and SIGKILL to sifrun at random
//! points of create/start/delete/mount/umount ([`faults`], the long run is
//! hack/fault-inject.sh).

mod concurrency;
mod faults;
