//! pbx-store
