//! memdx-render: reports to text, JSON, HTML and OpenMetrics. Renderers write to `impl Write` and do
//! no other I/O. The JSON types here are the output schema documented in `docs/json-schema.md`.

pub mod conclusion;
pub mod diagnose;
pub mod html;
pub mod log;
pub mod metrics;
pub mod pins;
pub mod schema;
mod style;

pub use style::Style;
