//! memdx-log
