#!/usr/bin/env bash
# Build rack-2.2.22.gem from Debian's ruby-rack 2.2.22-0+deb12u1 binary
# package (the library files Debian ships, under a gemspec made from
# Debian's own), so `gem install --local` gives the real gem layout.
# Usage: rack-gem.sh CACHE_DIR   (prints the .gem's path; cached)
set -euo pipefail
cache=$1
deb_version=2.2.22-0+deb12u1
gem="$cache/rack-2.2.22.gem"
if [ -f "$gem" ]; then echo "$gem"; exit 0; fi
mkdir -p "$cache"
cd "$cache"
deb="ruby-rack_${deb_version}_all.deb"
[ -f "$deb" ] || apt-get download "ruby-rack=$deb_version" >/dev/null 2>&1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$deb" "$work/deb"
cp -a "$work/deb/usr/share/rubygems-integration/all/gems/rack-2.2.22" "$work/src"
cd "$work/src"
cat > rack.gemspec <<'SPEC'
Gem::Specification.new do |s|
  s.name = "rack"
  s.version = "2.2.22"
  s.summary = "A modular Ruby webserver interface."
  s.authors = ["Leah Neukirchen"]
  s.homepage = "https://github.com/rack/rack"
  s.licenses = ["MIT"]
  s.required_ruby_version = ">= 2.3.0"
  s.files = Dir["lib/**/*.rb"] + Dir["bin/*"]
  s.executables = ["rackup"]
  s.require_paths = ["lib"]
end
SPEC
SOURCE_DATE_EPOCH=1772668800 gem build rack.gemspec >/dev/null 2>&1
mv rack-2.2.22.gem "$gem"
echo "$gem"
