module github.com/respcache/respcache

go 1.26
