import FerryConfig
import FerryPolicy
import NIOCore

/// One health check connection's bytes: writes a probe (an HTTP/1.1 request or the TCP
/// `send` payload) and turns the reply into a check outcome. Loop-bound; the session that
/// owns it calls `probe` and hears back once per probe through `onResult`.
final class HealthCheckHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Mode {
        case http(HTTPHealthCheck.CompiledCheck)
        case tcp(TCPHealthCheck)
        /// Served by `GRPCHealthCheckHandler` on an HTTP/2 connection, never by this handler.
        case grpc(GRPCHealthCheckHandler.Settings)
    }

    /// The outcome, whether the connection may carry the next probe, and whether the answer
    /// carried `x-envoy-immediate-health-check-fail`.
    struct Result {
        var outcome: HealthCheckStateMachine.Outcome
        var reusable: Bool
        var immediateFail = false
    }

    let mode: Mode
    private var context: ChannelHandlerContext?
    private var parser = HTTP1Parser(role: .client)
    private var inbound: ByteBuffer?
    private var status: Int?
    private var keepAlive = true
    private var immediateFail = false
    private var onResult: ((Result) -> Void)?

    init(mode: Mode) { self.mode = mode }

    var isActive: Bool { context?.channel.isActive ?? false }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    /// Sends one probe; `done` runs once, with the reply's verdict or a network failure.
    func probe(request: ByteBuffer, _ done: @escaping (Result) -> Void) {
        guard let context, context.channel.isActive else {
            done(Result(outcome: .networkFailure, reusable: false))
            return
        }
        onResult = done
        status = nil
        keepAlive = true
        immediateFail = false
        inbound = nil
        parser = HTTP1Parser(role: .client)
        if case .http(let check) = mode { parser.pendingRequestMethod = check.method }
        if case .tcp(let check) = mode, request.readableBytes == 0, check.receive.isEmpty {
            // Connect-only: the connect is the answer, so each check needs a new one (as Envoy).
            finish(.success, reusable: false)
            return
        }
        if request.readableBytes > 0 { context.writeAndFlush(wrapOutboundOut(request), promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        guard onResult != nil else { return }  // nothing asked: stray bytes are dropped
        if inbound == nil { inbound = bytes } else { inbound!.writeBuffer(&bytes) }
        switch mode {
        case .http: readHTTP()
        case .tcp(let check): readTCP(check)
        case .grpc: break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .http = mode, status != nil, case .untilClose = parser.state {
            finishHTTP()  // a response framed by the close is complete now
        } else {
            finish(.networkFailure, reusable: false)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        finish(.networkFailure, reusable: false)
        context.close(promise: nil)
    }

    private func readHTTP() {
        while onResult != nil, inbound != nil {
            let event: HTTP1Parser.Event?
            do {
                event = try parser.next(&inbound!)
            } catch {
                finish(.networkFailure, reusable: false)
                context?.close(promise: nil)
                return
            }
            guard let event else { return }
            switch event {
            case .responseHead(let head):
                guard head.status >= 200 else { continue }  // 1xx: the final answer follows
                status = head.status
                keepAlive = head.wantsKeepAlive
                immediateFail = head.headers.contains("x-envoy-immediate-health-check-fail")
            case .end:
                finishHTTP()
            default:
                continue
            }
        }
    }

    private func finishHTTP() {
        guard case .http(let check) = mode, let status else { return }
        let outcome: HealthCheckStateMachine.Outcome
        if check.expected.contains(where: { $0.contains(status) }) {
            outcome = .success
        } else if check.retriable.contains(where: { $0.contains(status) }) {
            outcome = .retriableFailure
        } else {
            outcome = .activeFailure
        }
        let fail = immediateFail && outcome != .success
        finish(outcome, reusable: keepAlive && inbound.map { $0.readableBytes == 0 } ?? true, immediateFail: fail)
    }

    /// Envoy's TCP matching: every `receive` payload must appear in the bytes read so far, in order.
    private func readTCP(_ check: TCPHealthCheck) {
        guard let received = inbound.map({ Array($0.readableBytesView) }) else { return }
        var from = received.startIndex
        for payload in check.receive {
            guard let found = Self.find(payload, in: received, from: from) else { return }  // wait for more bytes
            from = found + payload.count
        }
        finish(.success, reusable: true)
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard !needle.isEmpty else { return start }
        guard haystack.count - start >= needle.count else { return nil }
        for i in start...(haystack.count - needle.count) where haystack[i..<(i + needle.count)].elementsEqual(needle) {
            return i
        }
        return nil
    }

    private func finish(_ outcome: HealthCheckStateMachine.Outcome, reusable: Bool, immediateFail: Bool = false) {
        guard let done = onResult else { return }
        onResult = nil
        inbound = nil
        done(Result(outcome: outcome, reusable: reusable, immediateFail: immediateFail))
    }
}

extension HTTPHealthCheck {
    /// The request bytes and status ranges of an HTTP check, built once per checker.
    struct CompiledCheck {
        let method: String
        let expected: [Range<Int>]
        let retriable: [Range<Int>]
        private let check: HTTPHealthCheck

        init(_ check: HTTPHealthCheck) {
            self.check = check
            method = check.method
            expected = check.expectedStatuses
            retriable = check.retriableStatuses
        }

        /// As Envoy sends it: method, path, `host` (the configured one, else the cluster's name;
        /// Envoy does not use the endpoint's `hostname` here), `user-agent: Envoy/HC`, then
        /// `request_headers_to_add`/`_remove` (literal values; the decoder refuses others).
        func request(cluster: String) -> ByteBuffer {
            let authority = check.host.isEmpty ? cluster : check.host
            var headers = HeaderMap()
            headers.add("user-agent", "Envoy/HC")
            for option in check.requestHeaders.add {
                switch option.action {
                case .overwriteIfExistsOrAdd: headers.set(option.name, option.value.literalValue)
                case .addIfAbsent where headers.contains(option.name): continue
                case .overwriteIfExists where !headers.contains(option.name): continue
                case .overwriteIfExists: headers.set(option.name, option.value.literalValue)
                default: headers.add(option.name, option.value.literalValue)
                }
            }
            for name in check.requestHeaders.remove { _ = headers.remove(name) }
            var buffer = ByteBuffer()
            HTTP1Serializer.writeRequestHead(RequestHead(method: method, path: check.path, authority: authority, headers: headers),
                                             into: &buffer)
            return buffer
        }
    }
}
