// The client's capabilities, from its start-ok properties.
import AMQPWire

extension FieldTable {
    /// The client's `capabilities` sub-table (empty when absent).
    public var capabilities: FieldTable {
        if case .table(let table)? = self["capabilities"] { return table }
        return FieldTable()
    }

    public func flag(_ key: String) -> Bool {
        if case .bool(true)? = self[key] { return true }
        return false
    }
}
