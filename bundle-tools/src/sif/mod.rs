//! The SIF container format: header, descriptors, data types, reader and writer.

pub mod descriptor;
pub mod header;
pub mod reader;
pub mod types;
pub mod writer;

pub use descriptor::{encode_extra, Descriptor, Extra, Link, DESCRIPTOR_SIZE, GROUP_MASK};
pub use header::{format_time, Header, HEADER_SIZE, ZERO_TIME};
pub use reader::{ReadAt, Sif};
pub use types::*;
pub use writer::{CreateOptions, ObjectInput, SifWriter};
