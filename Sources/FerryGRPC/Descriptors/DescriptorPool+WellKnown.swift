/// The JSON mapping writes well-known types by field number; a descriptor set that redefines
/// one of them differently is refused at load time instead of producing wrong bytes.
extension DescriptorPool {
    private typealias Shape = [(number: Int, type: FieldType, repeated: Bool, typeName: String)]

    private static let wellKnownShapes: [String: Shape] = {
        var shapes: [String: Shape] = [
            WellKnown.timestamp: [(1, .int64, false, ""), (2, .int32, false, "")],
            WellKnown.duration: [(1, .int64, false, ""), (2, .int32, false, "")],
            WellKnown.fieldMask: [(1, .string, true, "")],
            WellKnown.structType: [(1, .message, true, "google.protobuf.Struct.FieldsEntry")],
            "google.protobuf.Struct.FieldsEntry": [(1, .string, false, ""), (2, .message, false, WellKnown.value)],
            WellKnown.value: [
                (1, .enum, false, WellKnown.nullValue), (2, .double, false, ""), (3, .string, false, ""),
                (4, .bool, false, ""), (5, .message, false, WellKnown.structType), (6, .message, false, WellKnown.listValue),
            ],
            WellKnown.listValue: [(1, .message, true, WellKnown.value)],
            WellKnown.any: [(1, .string, false, ""), (2, .bytes, false, "")],
        ]
        let wrappers: [(String, FieldType)] = [
            ("DoubleValue", .double), ("FloatValue", .float), ("Int64Value", .int64), ("UInt64Value", .uint64),
            ("Int32Value", .int32), ("UInt32Value", .uint32), ("BoolValue", .bool), ("StringValue", .string),
            ("BytesValue", .bytes),
        ]
        for (name, type) in wrappers { shapes["google.protobuf." + name] = [(1, type, false, "")] }
        return shapes
    }()

    func checkWellKnownTypes() throws {
        for (name, shape) in Self.wellKnownShapes.sorted(by: { $0.key < $1.key }) {
            guard let message = messages[name] else { continue }
            let matches = message.fields.count == shape.count && shape.allSatisfy { want in
                guard let f = message.field(number: want.number) else { return false }
                return f.type == want.type && f.isRepeated == want.repeated && f.typeName == want.typeName
            }
            guard matches else {
                throw TranscodingError.invalidDescriptor("the descriptor set defines \(name) differently from google/protobuf; use the standard definition")
            }
        }
    }
}
