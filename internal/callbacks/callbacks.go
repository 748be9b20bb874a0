// Package callbacks delivers a terminal job to the callbackUrl it was started with: signed,
// retried with backoff, from MySQL (so deliveries survive restarts), never to addresses
// inside the network unless the config allows them.
//
// # Scheduling
//
// The delivery state is a handful of callback_* columns on the job. The UPDATE that makes a
// job terminal (worker outcome, cancel, lease reaper) also sets callback_due_at when the job
// has a callback_url, so a terminal job cannot miss its delivery whichever path ended it.
// Every Interval a Deliverer claims due deliveries with a compare-and-set that pushes
// callback_due_at ahead by a lease and sets a claim token; it records each attempt with a
// compare-and-set on that token. A deliverer that stops mid-delivery gives the claim back; one
// that dies leaves the lease to expire. Either way another one delivers again: delivery is at
// least once, and receivers deduplicate on the X-Jobs-Delivery id, which is the same on every
// attempt.
//
// # Addresses
//
// Only http and https URLs are accepted. CheckURL refuses literal loopback, link-local,
// private and other internal addresses (and localhost) at start; at delivery time the
// dialer's Control hook checks the address actually dialled, after DNS resolution, so a
// name that resolves (or rebinds) to an internal address is refused too. Config.Allow lists
// networks that are allowed anyway.
package callbacks

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/backoff"
	"jobs/internal/config"
	"jobs/internal/metrics"
	"jobs/internal/text"
	"jobs/model"
)

// Headers of a delivery.
const (
	HeaderSignature = "X-Jobs-Signature" // "sha256=" + hex HMAC-SHA256 of the body with Callbacks.Secret
	HeaderDelivery  = "X-Jobs-Delivery"  // the delivery id, the same on every attempt
	HeaderAttempt   = "X-Jobs-Attempt"   // 1 on the first attempt
)

// MaxURLLength bounds a callbackUrl (the column's size).
const MaxURLLength = 2048

// ParseAllow parses Callbacks.AllowNetworks (CIDRs or single addresses).
func ParseAllow(networks []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for i, n := range networks {
		if !strings.Contains(n, "/") {
			addr, err := netip.ParseAddr(n)
			if err != nil {
				return nil, fmt.Errorf("Callbacks.AllowNetworks[%d] %q is not a CIDR or an IP address", i, n)
			}
			out = append(out, netip.PrefixFrom(addr, addr.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(n)
		if err != nil {
			return nil, fmt.Errorf("Callbacks.AllowNetworks[%d] %q is not a CIDR or an IP address", i, n)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// nat64 is the well-known NAT64 prefix (RFC 6052). In an IPv6-only network with DNS64 a name
// whose only address is IPv4 resolves into it, and the gateway forwards to the IPv4 address
// in its last 32 bits: that is the address reached, so it is the one checked.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// refused says why addr may not be called, or "" if it may.
func refused(addr netip.Addr, allow []netip.Prefix) string {
	addr = addr.Unmap()
	for _, p := range allow {
		if p.Contains(addr) {
			return ""
		}
	}
	if nat64.Contains(addr) {
		a := addr.As16()
		v4 := netip.AddrFrom4([4]byte(a[12:]))
		if why := refused(v4, allow); why != "" {
			return fmt.Sprintf("%s (%s through NAT64)", why, v4)
		}
		return ""
	}
	switch {
	case addr.IsLoopback():
		return "a loopback address"
	case addr.IsLinkLocalUnicast() || addr.IsLinkLocalMulticast():
		return "a link-local address"
	case addr.IsPrivate() || cgnat.Contains(addr):
		return "a private address"
	case addr.IsUnspecified() || addr.IsMulticast() || addr.IsInterfaceLocalMulticast():
		return "not a unicast address"
	}
	return ""
}

// CheckURL vets a callbackUrl at start: an absolute http or https URL whose host is not an
// internal address given literally (or localhost), unless allowed. Names are checked again,
// resolved, when delivering.
func CheckURL(raw string, allow []netip.Prefix) error {
	if len(raw) > MaxURLLength {
		return fmt.Errorf("callbackUrl is longer than %d characters", MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("callbackUrl must be an absolute http or https URL, not %q", raw)
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	addr, err := netip.ParseAddr(host)
	if err != nil {
		if host != "localhost" && !strings.HasSuffix(host, ".localhost") {
			return nil
		}
		addr = netip.MustParseAddr("127.0.0.1")
	}
	if why := refused(addr, allow); why != "" {
		return fmt.Errorf("callbackUrl host %s is %s; callbacks may only reach public addresses (Callbacks.AllowNetworks lists exceptions)", u.Hostname(), why)
	}
	return nil
}

// errRefused marks a dial the Control hook refused.
var errRefused = errors.New("refused")

// NewClient returns the HTTP client deliveries use: no proxy (it would hide the address
// dialled), no redirects, and a dialer that refuses internal addresses after resolution.
func NewClient(timeout time.Duration, allow []netip.Prefix) *http.Client {
	dialer := &net.Dialer{
		Timeout: timeout,
		Control: func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			addr, err := netip.ParseAddr(host)
			if err != nil {
				return fmt.Errorf("%w: cannot parse dialled address %q", errRefused, host)
			}
			if why := refused(addr, allow); why != "" {
				return fmt.Errorf("%w: %s is %s", errRefused, addr, why)
			}
			return nil
		},
	}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           dialer.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          16,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   timeout,
			ResponseHeaderTimeout: timeout,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// BodyFunc returns the body of a delivery of job (the API's view of it: jobview.CallbackBody).
type BodyFunc func(job *model.Jobs) ([]byte, error)

// Sign returns the X-Jobs-Signature value of body.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Deliverer claims due deliveries and makes them, Concurrency at a time, on goroutines of
// its own: workers never wait for a callback.
type Deliverer struct {
	cfg    config.CallbacksConf
	body   BodyFunc
	jobs   model.JobsModel
	client *http.Client
	log    logx.Logger
	slots  chan struct{}
	stop   context.CancelFunc
	done   chan struct{}
	wg     sync.WaitGroup
}

// NewDeliverer returns a deliverer; Start starts it.
func NewDeliverer(cfg config.CallbacksConf, allow []netip.Prefix, body BodyFunc, jobs model.JobsModel) *Deliverer {
	return &Deliverer{cfg: cfg, body: body, jobs: jobs, client: NewClient(cfg.Timeout, allow),
		log: logx.WithContext(context.Background()), slots: make(chan struct{}, cfg.Concurrency)}
}

// Start looks for due deliveries every Interval until Stop.
func (d *Deliverer) Start() {
	ctx, stop := context.WithCancel(context.Background())
	d.stop, d.done = stop, make(chan struct{})
	go func() {
		defer close(d.done)
		ticker := time.NewTicker(d.cfg.Interval)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
				d.poll(ctx)
			}
		}
	}()
}

// Stop stops claiming, cancels deliveries in flight and waits for them: one the receiver
// has already taken is still recorded, the others give their claim back (due again at once,
// for another process or this one after a restart, the attempt not counted). Those writes
// take at most stopTimeout; one that fails leaves the delivery to its lease.
func (d *Deliverer) Stop() {
	if d.stop == nil {
		return
	}
	d.stop()
	<-d.done
	d.wg.Wait()
}

// poll claims as many due deliveries as there are free slots and starts them.
func (d *Deliverer) poll(ctx context.Context) {
	free := cap(d.slots) - len(d.slots)
	if free == 0 {
		return
	}
	// The lease outlives an attempt, so a live deliverer is never overtaken.
	jobs, err := d.jobs.ClaimCallbacks(ctx, free, 2*d.cfg.Timeout+5*time.Second)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Errorf("callbacks: claim: %v", err)
		}
		return
	}
	for _, job := range jobs {
		d.slots <- struct{}{}
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			defer func() { <-d.slots }()
			d.deliver(ctx, job)
		}()
	}
}

// deliveryLabel is the result label of jobs_callback_deliveries_total.
var deliveryLabel = map[model.DeliveryResult]string{
	model.Delivered:  "delivered",
	model.RetryLater: "retry",
	model.GivenUp:    "failed",
}

// Bounds of the write that records an attempt: recordTimeout, or stopTimeout once Stop has
// begun, so that a failing MySQL does not hold the shutdown (as the workers' hand-back: a
// write that fails costs only a wait for the lease).
const (
	recordTimeout = 10 * time.Second
	stopTimeout   = 3 * time.Second
)

// deliver makes one attempt and records it.
func (d *Deliverer) deliver(ctx context.Context, job *model.Jobs) {
	attempt := job.CallbackAttempts + 1
	err := d.post(ctx, job, attempt)
	result, msg, retryIn := model.Delivered, "", time.Duration(0)
	switch {
	case err != nil && ctx.Err() != nil:
		// Cut short by Stop with no answer: give the claim back, so the next deliverer makes
		// it at once rather than once the lease runs out, and leave the attempt uncounted.
		result = model.Released
	case err != nil:
		msg = text.Truncate(err.Error(), 1024)
		if errors.Is(err, errRefused) || attempt >= int64(d.cfg.MaxAttempts) {
			result = model.GivenUp
		} else {
			result = model.RetryLater
			retryIn = max(backoff.Delay(d.cfg.Backoff, d.cfg.MaxBackoff, attempt), time.Millisecond)
		}
	}
	timeout := recordTimeout
	if ctx.Err() != nil {
		timeout = stopTimeout
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	won, werr := d.jobs.FinishCallback(wctx, job.Id, job.CallbackToken, result, msg, retryIn)
	if werr != nil {
		d.log.Errorf("callbacks: record attempt %d of job %s: %v (it will be made again once its lease runs out)", attempt, job.Id, werr)
	}
	if won && result != model.Released {
		metrics.CallbackDelivery(deliveryLabel[result])
	}
}

func (d *Deliverer) post(ctx context.Context, job *model.Jobs, attempt int64) error {
	body, err := d.body(job)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, job.CallbackUrl, strings.NewReader(string(body)))
	if err != nil {
		return fmt.Errorf("%w: %v", errRefused, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "jobs-callback/1")
	req.Header.Set(HeaderSignature, Sign(d.cfg.Secret, body))
	req.Header.Set(HeaderDelivery, job.CallbackId)
	req.Header.Set(HeaderAttempt, strconv.FormatInt(attempt, 10))
	resp, err := d.client.Do(req)
	if err != nil {
		var u *url.Error
		if errors.As(err, &u) {
			err = u.Err
		}
		return err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(snippet)))
	}
	return nil
}
