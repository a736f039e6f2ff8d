//! memdx-render: reports to text, JSON, HTML and OpenMetrics. Renderers write to `impl Write` and do
//! no other I/O.

pub mod log;
