//! memdx-analyze
