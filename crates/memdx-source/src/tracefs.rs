//! Private tracefs instances with a restore guard (owned by the tracing work).
