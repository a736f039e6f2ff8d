//! memdx-store
