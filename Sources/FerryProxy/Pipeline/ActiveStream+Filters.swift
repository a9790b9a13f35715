import FerryConfig
import NIOCore

/// The HTTP filter chain of a stream: building it with the route's per-filter settings,
/// running the decode hooks in order, pausing and resuming, and the response-side hooks.
extension ActiveStream {
    /// Makes this stream's filters (skipping those the route turns off, and those with nothing
    /// to do for this request) and runs their decode hooks; the router runs when every filter
    /// has let the request through.
    func startFilterChain() {
        let settings = route?.filterSettings ?? virtualHost?.filterSettings ?? []
        if settings.isEmpty, let fixed = hcm.fixedChain {
            // The common case: the chain every such stream shares, built once.
            filters = fixed.filters
            filterHooks = fixed.hooks
            decodeFilterIndex = 0
            return continueDecoding()
        }
        let slots = hcm.filterSlots
        // Built in a local array and stored once: appending to the stored property would check
        // its buffer's uniqueness on every filter.
        var chain: [ChainedFilter] = []
        chain.reserveCapacity(slots.count)
        var hooks: FilterHooks = []
        var i = 0
        while i < slots.count {
            defer { i += 1 }
            let made: ChainedFilter?
            if settings.isEmpty || i >= settings.count {
                // Most routes mention no filter: no per-route setting to look at.
                if slots[i].disabledByDefault { continue }
                made = slots[i].defaultLink(for: self)
            } else {
                switch settings[i] {
                case .disabled: continue
                case .inherit where slots[i].disabledByDefault: continue
                case .inherit, .enabled:
                    made = slots[i].defaultLink(for: self)
                case .config(let config):
                    made = slots[i].factory.makeFilter(routeConfig: config, for: self).map(ChainedFilter.init)
                }
            }
            guard let link = made else { continue }
            chain.append(link)
            hooks.formUnion(link.hooks)
        }
        filters = chain
        filterHooks = hooks
        decodeFilterIndex = 0
        continueDecoding()
    }

    /// Runs the remaining decode hooks, then the router. A filter that stopped the chain calls
    /// this to let the request go on (after a delay or a wait in a queue).
    func continueDecoding() {
        guard !finished else { return }
        while decodeFilterIndex < filters.count {
            let i = decodeFilterIndex
            decodeFilterIndex += 1
            if filters[i].hooks.contains(.decodeHeaders), filters[i].filter.decodeHeaders(self, endStream: requestEnded) == .stop {
                // Hold the request body in the codec until the chain goes on.
                if !finished { encoder.pauseRequestBody() }
                return
            }
        }
        runRouter()
    }

    /// Puts `new` in `old`'s place in this stream's chain (a shared filter object handing a
    /// stream to one of its own when it needs state); the stream then offers `new` the hooks
    /// it takes, which may be more than `old` took.
    func replaceFilter(_ old: StreamFilter, with new: StreamFilter) {
        guard let i = filters.firstIndex(where: { $0.filter === old }) else { return }
        let link = ChainedFilter(new)
        filters[i] = link
        filterHooks.formUnion(link.hooks)
    }

    /// Runs `body` on the stream's loop after `delay`, unless the stream finishes first (one
    /// pending wake-up per stream; a filter delay or queue wait is rare, so a scheduled task
    /// is cheaper overall than a per-tick check).
    func wake(after delay: TimeAmount, _ body: @escaping () -> Void) {
        filterWake?.cancel()
        filterWake = worker.loop.assumeIsolated().scheduleTask(in: delay) { [weak self] in
            guard let self, !self.finished else { return }
            self.filterWake = nil
            // Timestamps taken from here on (access log durations) see the wake-up's time.
            self.worker.tick()
            body()
        }
    }

    /// Offers a response about to start to the filters (encode order); the first takeover
    /// wins. While it runs, its own reply is not offered again.
    func filtersIntercept(status: Int, local: Bool) -> ResponseTakeover? {
        guard !interceptingResponse, filterHooks.contains(.interceptResponse) else { return nil }
        var i = filters.count
        while i > 0 {
            i -= 1
            guard filters[i].hooks.contains(.interceptResponse) else { continue }
            if let takeover = filters[i].filter.interceptResponse(self, status: status, local: local) {
                return { [unowned self] in
                    self.interceptingResponse = true
                    takeover()
                    self.interceptingResponse = false
                }
            }
        }
        return nil
    }

    /// Calls `body` with each filter that takes `hook`, in decode order or (`reversed`) encode
    /// order. By index, looking at each link's hooks in place: iterating the array would copy
    /// (retain and release) every filter, the ones that skip the hook too.
    @inline(__always)
    func forEachFilter(with hook: FilterHooks, reversed: Bool, _ body: (StreamFilter) -> Void) {
        let count = filters.count
        var step = 0
        while step < count {
            let i = reversed ? count - 1 - step : step
            step += 1
            if filters[i].hooks.contains(hook) { body(filters[i].filter) }
        }
    }

    // MARK: response body: transforms and parts held by a filter (pacing)

    /// Runs the body hooks of `filters[..<end]` in encode order on `data` (which they may
    /// replace); true when one kept the chunk.
    func filtersEncodeData(_ data: inout ByteBuffer, below end: Int) -> Bool {
        var i = end
        while i > 0 {
            i -= 1
            guard filters[i].hooks.contains(.responseBody) else { continue }
            let filter = filters[i].filter
            if filter.holdBody(self, .data(data)) { return true }
            filter.encodeData(self, &data)
        }
        return false
    }

    /// Offers the end of the response to `filters[..<end]` in encode order: each may hold it,
    /// or edit the trailers and add a last chunk (sent on through the filters after it).
    /// True when one kept the end.
    func filtersEncodeEnd(_ trailers: inout HeaderMap?, below end: Int) -> Bool {
        var i = end
        while i > 0 {
            i -= 1
            guard filters[i].hooks.contains(.responseBody) else { continue }
            let filter = filters[i].filter
            if filter.holdBody(self, .end(trailers: trailers)) { return true }
            if var last = filter.encodeTrailers(self, &trailers), !filtersEncodeData(&last, below: i) {
                writeBody(last)
            }
        }
        return false
    }

    /// A filter hands on a part of the body it held (`holdBody`): it continues through the
    /// filters after that one in encode order, then to the client.
    func releaseBody(_ part: BodyPart, from filter: StreamFilter) {
        guard !finished, let index = filters.firstIndex(where: { $0.filter === filter }) else { return }
        lastActivity = worker.now
        switch part {
        case .data(var data):
            if !filtersEncodeData(&data, below: index) { writeBody(data) }
        case .end(var trailers):
            if !filtersEncodeEnd(&trailers, below: index) { completeResponse(trailers: trailers) }
        }
        encoder.flush()
    }

    /// A filter holds more response body than it wants to: stop reading the upstream response
    /// (downstream writability no longer resumes it) until `resumeResponseBody()`.
    func pauseResponseBody() {
        responseBodyPaused = true
        upstream?.pauseReading()
    }

    func resumeResponseBody() {
        responseBodyPaused = false
        if encoder.isWritable { upstream?.resumeReading() }
    }
}
