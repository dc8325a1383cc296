//! The state root (`--root`): [`root`] makes and checks it; [`container`] is one
//! container's directory (ids, locks, runc-shaped state JSON); [`claim`] serialises
//! creates of one id; [`cgroup`] finds, empties and removes a container's cgroup;
//! [`bundle_users`] answers bundle-tools' "is a container still using this bundle?".

pub mod bundle_users;
pub mod cgroup;
pub mod claim;
pub mod container;
pub mod root;
