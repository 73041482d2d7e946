// Command web is the kind flow's test workload (e2e/kind/run.sh), standard library only so it builds
// without any registry or module download:
//
//	web serve [-addr :80]            HTTP server answering "<hostname> <remote addr>" like traefik/whoami,
//	                                 the image of the guide's two web Pods (no registry is reachable here)
//	web probe -url U [-interval 100ms] [-timeout 300ms] [-for 120s] [-until-recovered]
//	                                 GETs U in a loop, prints a line whenever the answers change between ok
//	                                 and failing (and why), then the answers per Pod and a summary:
//	                                 requests, failures, the longest outage.
//	                                 With -until-recovered it stops once an outage has ended (after 3 good
//	                                 answers in a row); SIGTERM (podman stop) ends it too, with the summary;
//	                                 the loop is always bounded by -for. Exit status 1 when the last answer
//	                                 failed, or with -until-recovered when no outage ended.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: web serve|probe [flags]")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		serve(os.Args[2:])
	case "probe":
		os.Exit(probe(os.Args[2:]))
	default:
		fmt.Fprintf(os.Stderr, "web: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
}

func serve(args []string) {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	addr := fs.String("addr", ":80", "listen address")
	_ = fs.Parse(args)
	host, _ := os.Hostname()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "Hostname: %s\nRemoteAddr: %s\n", host, r.RemoteAddr)
	})
	srv := &http.Server{Addr: *addr, ReadHeaderTimeout: 5 * time.Second}
	fmt.Printf("web: serving on %s as %s\n", *addr, host)
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "web:", err)
		os.Exit(1)
	}
}

func probe(args []string) int {
	fs := flag.NewFlagSet("probe", flag.ExitOnError)
	url := fs.String("url", "", "URL to GET")
	interval := fs.Duration("interval", 100*time.Millisecond, "time between requests")
	timeout := fs.Duration("timeout", 300*time.Millisecond, "per-request timeout")
	total := fs.Duration("for", 120*time.Second, "upper bound of the whole probe")
	untilRecovered := fs.Bool("until-recovered", false, "stop once an outage has ended")
	_ = fs.Parse(args)
	if *url == "" {
		fmt.Fprintln(os.Stderr, "web probe: -url is required")
		return 2
	}
	client := &http.Client{
		Timeout: *timeout,
		// a fresh connection per request: a dead node's connection must not be reused
		Transport: &http.Transport{DisableKeepAlives: true, DialContext: (&net.Dialer{Timeout: *timeout}).DialContext},
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	start := time.Now()
	var requests, failures, streak int
	var longest, first time.Duration // longest outage; the first one (an L2 failover's own gap)
	var downSince time.Time
	last := ""
	byPod := map[string]int{}
	recovered, stopped := false, false
	for !stopped && time.Since(start) < *total {
		t := time.Now()
		state := get(client, *url)
		requests++
		class := state // "ok <pod>" lines are printed only when the answers were failing before
		if strings.HasPrefix(state, "ok") {
			class = "ok"
			byPod[strings.TrimPrefix(state, "ok ")]++
		}
		if class != last {
			fmt.Printf("%8.3fs %s\n", time.Since(start).Seconds(), state)
			last = class
		}
		if strings.HasPrefix(state, "fail") {
			failures++
			streak = 0
			if downSince.IsZero() {
				downSince = t
			}
		} else {
			streak++
			if !downSince.IsZero() {
				gap := t.Sub(downSince)
				if gap > longest {
					longest = gap
				}
				if !recovered {
					first = gap
				}
				downSince = time.Time{}
				recovered = true
			}
			if *untilRecovered && recovered && streak >= 3 {
				break
			}
		}
		d := *interval - time.Since(t)
		if d < 0 {
			d = 0
		}
		select {
		case <-stop:
			stopped = true
		case <-time.After(d):
		}
	}
	if !downSince.IsZero() {
		fmt.Printf("still failing after %.3fs\n", time.Since(downSince).Seconds())
	}
	fmt.Printf("answers by pod: %v\n", byPod)
	fmt.Printf("summary: requests=%d failures=%d first_outage_ms=%d longest_outage_ms=%d recovered=%t stopped_by_signal=%t\n",
		requests, failures, first.Milliseconds(), longest.Milliseconds(), recovered, stopped)
	if !downSince.IsZero() || (*untilRecovered && !recovered && !stopped) {
		return 1
	}
	return 0
}

// get returns "ok <hostname>" or "fail <reason>".
func get(c *http.Client, url string) string {
	resp, err := c.Get(url)
	if err != nil {
		msg := err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
		return "fail " + msg
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	for _, line := range strings.Split(string(body), "\n") {
		if h, ok := strings.CutPrefix(line, "Hostname: "); ok {
			return "ok " + h
		}
	}
	return fmt.Sprintf("ok status %d", resp.StatusCode)
}
