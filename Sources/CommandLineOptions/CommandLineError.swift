/// A command-line mistake, told in one line naming the option.
public struct CommandLineError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
