/// A first-in first-out queue over one array: elements are appended at the back and taken from a
/// moving front; the space before the front is reclaimed when it exceeds half the array, so push
/// and pop are amortized O(1) and a queue that stays within its size stops allocating.
/// Elements can be read and replaced by their position from the front.
struct FIFO<Element> {
    private var storage: [Element] = []
    private var front = 0

    var count: Int { storage.count - front }
    var isEmpty: Bool { front == storage.count }
    var first: Element? { isEmpty ? nil : storage[front] }

    mutating func append(_ element: Element) {
        storage.append(element)
    }

    @discardableResult
    mutating func removeFirst() -> Element {
        precondition(!isEmpty)
        let element = storage[front]
        front += 1
        if front == storage.count {
            storage.removeAll(keepingCapacity: true)
            front = 0
        } else if front >= 32 && front * 2 >= storage.count {
            storage.removeSubrange(0..<front)
            front = 0
        }
        return element
    }

    /// The element at `offset` from the front.
    subscript(offset: Int) -> Element {
        get { storage[front + offset] }
        set { storage[front + offset] = newValue }
    }

    /// Removes the elements `drop` selects; the others keep their order.
    mutating func removeAll(where drop: (Element) -> Bool) {
        storage.removeSubrange(0..<front)
        front = 0
        storage.removeAll(where: drop)
    }
}

extension FIFO: Sendable where Element: Sendable {}
