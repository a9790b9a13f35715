import FerryConfig
import NIOConcurrencyHelpers
import NIOSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `NIOSSLContext` of one transport socket in one configuration generation, rebuilt when
/// one of its files (certificate chain, private key, trusted CA) changes.
///
/// The server's control loop calls `reloadIfChanged()` every few seconds (one `stat` per file,
/// off the request path). A changed file set is read and parsed as at load time; if that
/// succeeds, the new context serves every handshake that starts afterwards, while connections
/// already open keep theirs. A failure (a half-written file, a key that does not match yet) keeps
/// the current context and is tried again at the next poll. Handlers read `context` once per
/// new connection (one uncontended lock), never per request.
final class ReloadableTLSContext: Sendable {
    enum Source: Sendable {
        case server(DownstreamTlsContext)
        case client(UpstreamTlsContext)
    }

    enum Outcome: Equatable {
        case unchanged
        case reloaded
        case failed(String)
    }

    /// "listener ingress" or "cluster backend", for logs.
    let owner: String
    let source: Source
    private let state: NIOLockedValueBox<(context: NIOSSLContext, stamps: [FileStamp], failed: [FileStamp]?)>

    var context: NIOSSLContext { state.withLockedValue { $0.context } }

    /// Builds the first context from the bytes read at config load.
    init(owner: String, source: Source) throws(TLSConfigError) {
        self.owner = owner
        self.source = source
        let context = try Self.build(source)
        state = NIOLockedValueBox((context, Self.files(of: source).map { FileStamp(path: $0) }, nil))
    }

    /// Re-reads the files when their stamps changed since the last successful load.
    func reloadIfChanged() -> Outcome {
        let paths = Self.files(of: source)
        let now = paths.map { FileStamp(path: $0) }
        let (current, failed) = state.withLockedValue { ($0.stamps, $0.failed) }
        guard now != current, now != failed else { return .unchanged }
        do {
            let context = try Self.build(Self.reread(source))
            state.withLockedValue { $0 = (context, now, nil) }
            return .reloaded
        } catch {
            state.withLockedValue { $0.failed = now }
            return .failed(error.message)
        }
    }

    private static func build(_ source: Source) throws(TLSConfigError) -> NIOSSLContext {
        switch source {
        case .server(let tls): try TLSContextBuilder.server(tls)
        case .client(let tls): try TLSContextBuilder.client(tls)
        }
    }

    private static func common(_ source: Source) -> CommonTlsContext {
        switch source {
        case .server(let tls): tls.common
        case .client(let tls): tls.common
        }
    }

    /// The file-backed data sources, in a fixed order.
    static func files(of source: Source) -> [String] {
        let common = common(source)
        return [common.certificate?.certificateChain, common.certificate?.privateKey, common.validation?.trustedCA]
            .compactMap { data in
                if case .file(let path)? = data?.source.origin { return path }
                return nil
            }
    }

    /// `source` with every file-backed data source read again.
    private static func reread(_ source: Source) throws(TLSConfigError) -> Source {
        func fresh(_ data: LocatedDataSource?) throws(TLSConfigError) -> LocatedDataSource? {
            guard var data, case .file(let path) = data.source.origin else { return data }
            do {
                data.source.bytes = try RuntimeDiskReader.contents(of: path)
            } catch {
                throw TLSConfigError(location: data.location, path: data.path, message: "\(error)", fix: "")
            }
            return data
        }
        var common = common(source)
        if let certificate = common.certificate {
            common.certificate = TlsCertificate(certificateChain: try fresh(certificate.certificateChain)!,
                                                privateKey: try fresh(certificate.privateKey)!)
        }
        let trustedCA = try fresh(common.validation?.trustedCA)
        common.validation?.trustedCA = trustedCA
        switch source {
        case .server(var tls):
            tls.common = common
            return .server(tls)
        case .client(var tls):
            tls.common = common
            return .client(tls)
        }
    }
}

/// What tells a file changed: its identity, size and modification time (a renamed-over or
/// re-linked file, as Kubernetes secret volumes do, gets a new inode).
struct FileStamp: Equatable, Sendable {
    let inode: UInt64
    let size: Int64
    let modifiedSeconds: Int
    let modifiedNanoseconds: Int

    init(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else {
            (inode, size, modifiedSeconds, modifiedNanoseconds) = (0, -1, 0, 0)
            return
        }
        inode = UInt64(info.st_ino)
        size = Int64(info.st_size)
        modifiedSeconds = Int(info.st_mtim.tv_sec)
        modifiedNanoseconds = Int(info.st_mtim.tv_nsec)
    }
}
