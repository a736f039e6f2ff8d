//! memdx-parse
