//! Spate
