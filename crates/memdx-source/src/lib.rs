//! memdx-source: the only crate that touches the system. Reads files, directories, archives and the
//! live machine (always under a root directory), and manages private tracefs instances.

pub mod tracefs;
