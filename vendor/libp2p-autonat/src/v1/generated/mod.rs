// Automatically generated mod.rs
pub mod structs;
