// go-tar-list: lists each archive named on the command line as Go's archive/tar (the reader
// docker uses) sees it, one JSON object per line:
//
//	{"file": "...", "ok": true, "entries": [...]}   or   {"file": "...", "ok": false, "error": "..."}
//
// Names and link targets are printed as hex (they are bytes, not text). Built at test time from
// Debian's golang-go (see test/helpers/go-tar.ts); compared there with pivot's own reader.
package main

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
)

type entry struct {
	Name     string            `json:"name"`
	Type     string            `json:"type"`
	Size     int64             `json:"size"`
	Mode     int64             `json:"mode"`
	UID      int               `json:"uid"`
	GID      int               `json:"gid"`
	Mtime    string            `json:"mtime"`
	Linkname string            `json:"linkname"`
	Devmajor int64             `json:"devmajor"`
	Devminor int64             `json:"devminor"`
	Sha256   string            `json:"sha256"`
	Xattrs   map[string]string `json:"xattrs"`
}

type result struct {
	File    string  `json:"file"`
	OK      bool    `json:"ok"`
	Error   string  `json:"error,omitempty"`
	Entries []entry `json:"entries"`
}

const maxRead = 256 << 20

func list(path string) result {
	r := result{File: path, Entries: []entry{}}
	f, err := os.Open(path)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	defer f.Close()
	// Not an io.Seeker: read the stream as docker reads a pipe.
	tr := tar.NewReader(struct{ io.Reader }{f})
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			r.Error = err.Error()
			return r
		}
		// Entries over 256 MiB (Go's sparse test files expand to 60 GB of zeros) are not read
		// here; Next skips their stored data.
		digest := "not-read"
		n := h.Size
		if h.Size <= maxRead {
			sum := sha256.New()
			n, err = io.Copy(sum, tr)
			if err != nil {
				r.Error = err.Error()
				return r
			}
			digest = hex.EncodeToString(sum.Sum(nil))
		}
		x := map[string]string{}
		for k, v := range h.Xattrs {
			x[k] = hex.EncodeToString([]byte(v))
		}
		size := h.Size
		if n != size {
			size = n
		}
		r.Entries = append(r.Entries, entry{
			Name:     hex.EncodeToString([]byte(h.Name)),
			Type:     string([]byte{h.Typeflag}),
			Size:     size,
			Mode:     h.Mode & 07777,
			UID:      h.Uid,
			GID:      h.Gid,
			Mtime:    fmt.Sprintf("%d.%09d", h.ModTime.Unix(), h.ModTime.Nanosecond()),
			Linkname: hex.EncodeToString([]byte(h.Linkname)),
			Devmajor: h.Devmajor,
			Devminor: h.Devminor,
			Sha256:   digest,
			Xattrs:   sortedCopy(x),
		})
	}
	r.OK = true
	return r
}

func sortedCopy(m map[string]string) map[string]string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(map[string]string, len(m))
	for _, k := range keys {
		out[k] = m[k]
	}
	return out
}

func main() {
	enc := json.NewEncoder(os.Stdout)
	for _, path := range os.Args[1:] {
		if err := enc.Encode(list(path)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
