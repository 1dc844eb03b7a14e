fn main() {
    lunet::cli::main()
}
