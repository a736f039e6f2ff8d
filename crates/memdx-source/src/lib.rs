//! memdx-source
