//! pbx-server
