//! memdx-trace
