# Compare versions with RubyGems' own Gem::Version (Debian's ruby).
# Reads "A<TAB>B" lines on stdin; writes -1, 0, 1 (or "error") per line.
require "rubygems"
$stdin.each_line do |l|
  a, b = l.chomp.split("\t")
  begin
    puts(Gem::Version.new(a) <=> Gem::Version.new(b))
  rescue ArgumentError
    puts "error"
  end
end
