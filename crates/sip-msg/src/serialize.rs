// Serialization of messages, URIs and header values.
