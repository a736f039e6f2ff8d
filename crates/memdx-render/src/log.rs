//! Rendering of kernel log reports for `memdx log`.
