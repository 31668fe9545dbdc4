/// Why a command to the [`Endpoint`](crate::Endpoint) was refused. These are
/// TU mistakes or races (a transaction ended), never network input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TxnError {
    #[error("no such transaction (it terminated or never existed)")]
    NoSuchTransaction,
    #[error("the request has no top Via with an RFC 3261 branch (z9hG4bK…)")]
    NoBranch,
    #[error("the request's CSeq is missing or names another method")]
    BadCSeq,
    #[error("a client transaction with this branch and method already exists")]
    DuplicateBranch,
    #[error("ACK is not a transaction; send it with send_stateless")]
    AckIsNotATransaction,
    #[error("responses are sent on server transactions only")]
    NotAServerTransaction,
    #[error("only an INVITE client transaction can be cancelled")]
    NotAnInviteClient,
    #[error("the transaction's state does not allow this (e.g. a second final response)")]
    WrongState,
    #[error("a reliable provisional is a 101-199 to an INVITE")]
    NotReliableProvisional,
    #[error("a reliable provisional is still awaiting its PRACK (RFC 3262 §3)")]
    ReliableProvisionalPending,
}
