//! pbx-core
