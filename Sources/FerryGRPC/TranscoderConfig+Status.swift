/// The `google.rpc.Status` JSON that `convert_grpc_status` answers a failed call with.
extension TranscoderConfig {
    /// The JSON of a `google.rpc.Status`: the decoded `grpc-status-details-bin` when the
    /// upstream sent one (it holds the code, the message and the details), else `code` and
    /// `message` (from `grpc-status` and the percent-decoded `grpc-message`). Nil when the
    /// details do not parse or name a type the descriptor set lacks: as in Envoy, the error is
    /// then answered without a body.
    public func statusJSON(code: Int, message: String, detailsBin: [UInt8]?) -> [UInt8]? {
        var code = code, message = message, details: [JSONValue] = []
        if let detailsBin {
            do {
                (code, message, details) = try decodeStatus(detailsBin)
            } catch {
                return nil
            }
        }
        var members: [(key: String, value: JSONValue)] = []
        if code != 0 { members.append(("code", .number(String(code)))) }
        if !message.isEmpty { members.append(("message", .string(message))) }
        if !details.isEmpty { members.append(("details", .array(details))) }
        return JSONWriter.serialize(.object(members), whitespace: options.printOptions.addWhitespace)
    }

    /// google.rpc.Status: `int32 code = 1; string message = 2; repeated google.protobuf.Any details = 3;`
    private func decodeStatus(_ bytes: [UInt8]) throws -> (Int, String, [JSONValue]) {
        var reader = WireReader(bytes)
        var code = 0, message = "", details: [JSONValue] = []
        let printer = MessageToJSON(pool: pool, options: options.printOptions)
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readTag()
            switch (field, wireType) {
            case (1, .varint): code = Int(Int32(truncatingIfNeeded: try reader.readVarint()))
            case (2, .lengthDelimited): message = try reader.readString()
            case (3, .lengthDelimited):
                let any = try DynamicMessage(decoding: try reader.readLengthDelimited(), as: try pool.message(WellKnown.any), pool: pool)
                details.append(try printer.json(any))
            default: try reader.skip(wireType, field: field)
            }
        }
        return (code, message, details)
    }
}
