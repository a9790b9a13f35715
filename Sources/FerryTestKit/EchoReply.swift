import Foundation

/// The JSON body `EchoServer` answers with: what the upstream saw of the request.
public struct EchoReply: Decodable, Sendable {
    public var name: String
    public var method: String
    public var path: String
    public var version: String
    /// Header fields in the order received, as `[name, value]` pairs.
    public var headers: [[String]]
    public var bodyBytes: Int

    enum CodingKeys: String, CodingKey {
        case name, method, path, version, headers
        case bodyBytes = "body_bytes"
    }

    public init(_ body: String) throws {
        self = try JSONDecoder().decode(EchoReply.self, from: Data(body.utf8))
    }

    /// Every value of header `name` (case-insensitive), in order.
    public func values(_ name: String) -> [String] {
        headers.filter { $0.count == 2 && $0[0].lowercased() == name.lowercased() }.map { $0[1] }
    }

    /// The first value of header `name`.
    public func header(_ name: String) -> String? { values(name).first }
}
