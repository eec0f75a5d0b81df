//! Where events come from: files and stdin ([`file`]), Kafka ([`kafka`]), and the decoders that
//! turn their bytes into [`crate::event::Event`]s ([`decode`]).

pub mod decode;
pub mod file;
pub mod kafka;
