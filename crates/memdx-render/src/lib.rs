//! memdx-render
