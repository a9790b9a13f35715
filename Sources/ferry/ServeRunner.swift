import ArgumentParser
import Dispatch
import FerryAdmin
import FerryConfig
import FerryProxy
import FerryTelemetry
import Logging
import NIOConcurrencyHelpers
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// Starts the proxy and its admin API and runs until SIGTERM/SIGINT or `/quitquitquit`.
enum ServeRunner {
    static func serve(_ loaded: LoadedConfig, options: ProxyOptions, levels: LogLevels, commandLine: [(String, String)],
                      version: String, stop: StopSignal = StopSignal()) async throws {
        let logger = options.logger
        let proxy: ProxyServer
        do {
            proxy = try await ProxyServer.start(config: loaded, options: options)
        } catch let errors as ConfigErrors {
            printError(errors.description)
            throw ExitCode(1)
        } catch {
            printError("ferry: \(error)")
            throw ExitCode(1)
        }
        for (name, address) in proxy.listenerAddresses {
            logger.info("listener \(name) listening on \(address.ipAddress ?? "?"):\(address.port ?? 0)")
        }
        var admin: AdminServer?
        if let adminConfig = loaded.bootstrap.admin {
            let api = AdminAPI(proxy: proxy, levels: levels, info: ServerInfo(version: version, commandLine: commandLine)) {
                stop.trigger("admin /quitquitquit")
            }
            do {
                admin = try await AdminServer.start(host: adminConfig.address.address, port: adminConfig.address.port, admin: api)
                if let a = admin?.address { logger.info("admin address: \(a.ipAddress ?? "?"):\(a.port ?? 0)") }
            } catch {
                printError("ferry: cannot bind admin address \(adminConfig.address): \(error)")
                await proxy.shutdown()
                throw ExitCode(1)
            }
        }
        var sources = [SIGTERM, SIGINT].map { sig -> DispatchSourceSignal in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { stop.trigger(sig == SIGTERM ? "SIGTERM" : "SIGINT") }
            source.resume()
            return source
        }
        signal(SIGHUP, SIG_IGN)
        let hup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        hup.setEventHandler {
            Task {
                logger.info("SIGHUP: reloading configuration")
                _ = await proxy.reload()
            }
        }
        hup.resume()
        sources.append(hup)
        logger.info("ferry started (concurrency \(options.concurrency))")
        let reason = await stop.wait()
        logger.info("shutting down (\(reason)): draining for at most \(options.drainTime.nanoseconds / 1_000_000_000)s")
        await proxy.drainAndShutdown()
        for s in sources { s.cancel() }
        await admin?.shutdown()
        AccessLogSinks.shared.flushAll()
    }
}

/// A one-shot stop request that async code can wait for.
final class StopSignal: Sendable {
    private let state = NIOLockedValueBox<(reason: String?, waiters: [CheckedContinuation<String, Never>])>((nil, []))

    func trigger(_ reason: String) {
        let waiters = state.withLockedValue { s -> [CheckedContinuation<String, Never>] in
            guard s.reason == nil else { return [] }
            s.reason = reason
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume(returning: reason) }
    }

    func wait() async -> String {
        await withCheckedContinuation { c in
            let done = state.withLockedValue { s -> String? in
                if let r = s.reason { return r }
                s.waiters.append(c)
                return nil
            }
            if let done { c.resume(returning: done) }
        }
    }
}
