module github.com/loomssh/loom

go 1.26.0

require (
	golang.org/x/crypto v0.59.0
	golang.org/x/sys v0.50.0
	golang.org/x/term v0.48.0
)

require (
	github.com/Microsoft/go-winio v0.6.2
	github.com/davidmz/go-pageant v1.1.0
	github.com/pkg/sftp v1.13.12
	go.yaml.in/yaml/v3 v3.0.6
)

require github.com/kr/fs v0.1.0 // indirect
