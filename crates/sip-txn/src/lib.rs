//! sip-txn
