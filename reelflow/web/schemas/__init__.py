"""Request and response bodies (msgspec Structs), one module per area."""
