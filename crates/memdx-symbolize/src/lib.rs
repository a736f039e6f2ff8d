//! memdx-symbolize
