// Reference firmware of the button actuator: lab/actuator/PROTOCOL.md, version 1.
//
// Board: Arduino Mega 2560 (any 5 V AVR board works with fewer channels: set CHANNELS and
// PINS). Each channel's pin drives an optocoupler (PC817 or similar) or a logic-level MOSFET
// with a small solenoid, wired across one key's contacts (lab/actuator/WIRING.md). HIGH =
// pressed. The USB serial port resets the board when a host opens it (DTR), so every open
// starts with all keys released and the READY banner.

#include <Arduino.h>
#include <avr/sleep.h>
#include <string.h>
#include <stdlib.h>

static const uint8_t CHANNELS = 24;
// Channel n (1-based) drives PINS[n - 1]. Pins 22-45 sit together on the Mega's double header.
static const uint8_t PINS[CHANNELS] = {22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33,
                                       34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45};
static const uint8_t LINE_MAX = 64;
static const unsigned long TAP_MAX_MS = 60000UL;
// A HOLD without its own limit: the safety timeout for a host that went away holding a key
// (PROTOCOL.md, "Safety").
static const unsigned long HOLD_DEFAULT_MS = 120000UL;
static const unsigned long HOLD_MAX_MS = 3600000UL;
// Bytes the host sends while a TAP runs wait here (the core's receive buffer holds 63).
static const uint16_t PENDING_MAX = 512;
// A command word and at most two arguments; a fourth word is always one too many.
static const uint8_t WORDS_MAX = 4;

static bool held[CHANNELS];
static unsigned long heldSince[CHANNELS];
static unsigned long holdLimit[CHANNELS];

static char line[LINE_MAX + 1];
static uint8_t lineLen = 0;
static bool overlong = false;
static bool badByte = false;
static bool lastWasCr = false;

static uint8_t pending[PENDING_MAX];
static uint16_t pendingHead = 0;
static uint16_t pendingLen = 0;

static void press(uint8_t ch, bool on) {
  digitalWrite(PINS[ch - 1], on ? HIGH : LOW);
}

static void releaseAll() {
  for (uint8_t i = 0; i < CHANNELS; i++) {
    digitalWrite(PINS[i], LOW);
    held[i] = false;
  }
}

// The hold watchdog: the last line of defence for a host that died holding a key.
static void watchdog() {
  unsigned long now = millis();
  for (uint8_t i = 0; i < CHANNELS; i++) {
    if (held[i] && now - heldSince[i] >= holdLimit[i]) {
      press(i + 1, false);
      held[i] = false;
      Serial.print(F("EVT AUTORELEASE "));
      Serial.print(i + 1);
      Serial.print(F("\r\n"));
    }
  }
}

static const uint8_t ERR_UNKNOWN_COMMAND = 1;
static const uint8_t ERR_BAD_CHANNEL = 2;
static const uint8_t ERR_BAD_ARGUMENT = 3;
static const uint8_t ERR_LINE_TOO_LONG = 4;
static const uint8_t ERR_CHANNEL_BUSY = 5;

static void replyErr(uint8_t code) {
  Serial.print(F("ERR "));
  Serial.print(code);
  Serial.print(' ');
  switch (code) {
    case ERR_UNKNOWN_COMMAND: Serial.print(F("unknown command")); break;
    case ERR_BAD_CHANNEL: Serial.print(F("bad channel")); break;
    case ERR_BAD_ARGUMENT: Serial.print(F("bad argument")); break;
    case ERR_LINE_TOO_LONG: Serial.print(F("line too long")); break;
    default: Serial.print(F("channel busy")); break;
  }
  Serial.print(F("\r\n"));
}

// A decimal number without sign, 1 to max; false when not. Leading zeros are allowed
// ("03" is 3), as the protocol's canonical echo implies.
static bool number(const char *word, unsigned long max, unsigned long *out) {
  if (word == NULL || *word == '\0') return false;
  for (const char *p = word; *p; p++) {
    if (*p < '0' || *p > '9') return false;
  }
  while (*word == '0') word++;
  if (strlen(word) > 7) return false;  // above every limit, and no overflow below
  unsigned long value = 0;
  for (const char *p = word; *p; p++) {
    value = value * 10 + (unsigned long)(*p - '0');
  }
  if (value < 1 || value > max) return false;
  *out = value;
  return true;
}

static void upcase(char *word) {
  for (char *p = word; *p; p++) {
    if (*p >= 'a' && *p <= 'z') *p = *p - 'a' + 'A';
  }
}

// A channel argument: missing is a bad argument, anything but 1 to CHANNELS a bad channel.
static uint8_t channelArg(const char *word, unsigned long *ch) {
  if (word == NULL) return ERR_BAD_ARGUMENT;
  return number(word, CHANNELS, ch) ? 0 : ERR_BAD_CHANNEL;
}

static uint8_t rangedArg(const char *word, unsigned long max, unsigned long *value) {
  return number(word, max, value) ? 0 : ERR_BAD_ARGUMENT;
}

// Keeps what the host sends while a TAP runs, to be executed in order afterwards.
static void keepInput() {
  while (Serial.available() > 0 && pendingLen < PENDING_MAX) {
    pending[(pendingHead + pendingLen) % PENDING_MAX] = (uint8_t)Serial.read();
    pendingLen++;
  }
}

// The next received byte, kept ones first; -1 when there is none.
static int nextByte() {
  if (pendingLen > 0) {
    uint8_t c = pending[pendingHead];
    pendingHead = (pendingHead + 1) % PENDING_MAX;
    pendingLen--;
    return c;
  }
  return Serial.available() > 0 ? Serial.read() : -1;
}

// Presses a channel for `ms` milliseconds, timed with micros() (4 us steps) rather than
// millis(), whose count jumps by 2 now and then. Other holds keep their watchdog.
static void tap(uint8_t ch, unsigned long ms) {
  press(ch, true);
  unsigned long start = micros();
  unsigned long span = ms * 1000UL;  // at most 60 000 000: no overflow
  while (micros() - start < span) {
    watchdog();
    keepInput();
  }
  press(ch, false);
}

static void replyEnd() { Serial.print(F("\r\n")); }

// Runs one command line. Errors are found left to right: the command word, then each
// argument in order, then a word too many; a refused command has no effect.
static uint8_t execute(char *text) {
  char *words[WORDS_MAX] = {NULL, NULL, NULL, NULL};
  uint8_t count = 0;
  for (char *w = strtok(text, " "); w != NULL && count < WORDS_MAX; w = strtok(NULL, " ")) {
    words[count++] = w;
  }
  if (count == 0) return 0;  // a line of spaces: empty, no reply
  upcase(words[0]);
  const char *cmd = words[0];
  unsigned long ch = 0, value = 0;
  uint8_t err;

  if (strcmp(cmd, "HELLO") == 0) {
    if (count > 1) return ERR_BAD_ARGUMENT;
    Serial.print(F("OK HELLO yealink-actuator 1 channels="));
    Serial.print(CHANNELS);
    replyEnd();
  } else if (strcmp(cmd, "HOLD") == 0) {
    if ((err = channelArg(words[1], &ch))) return err;
    value = HOLD_DEFAULT_MS;
    if (count > 2 && (err = rangedArg(words[2], HOLD_MAX_MS, &value))) return err;
    if (count > 3) return ERR_BAD_ARGUMENT;
    press(ch, true);
    held[ch - 1] = true;
    heldSince[ch - 1] = millis();  // holding a held key restarts its watchdog
    holdLimit[ch - 1] = value;
    Serial.print(F("OK HOLD "));
    Serial.print(ch);
    if (count == 3) {
      Serial.print(' ');
      Serial.print(value);
    }
    replyEnd();
  } else if (strcmp(cmd, "RELEASE") == 0) {
    if ((err = channelArg(words[1], &ch))) return err;
    if (count > 2) return ERR_BAD_ARGUMENT;
    press(ch, false);
    held[ch - 1] = false;
    Serial.print(F("OK RELEASE "));
    Serial.print(ch);
    replyEnd();
  } else if (strcmp(cmd, "TAP") == 0) {
    if ((err = channelArg(words[1], &ch))) return err;
    if ((err = rangedArg(words[2], TAP_MAX_MS, &value))) return err;
    if (count > 3) return ERR_BAD_ARGUMENT;
    if (held[ch - 1]) return ERR_CHANNEL_BUSY;
    tap(ch, value);
    Serial.print(F("OK TAP "));
    Serial.print(ch);
    Serial.print(' ');
    Serial.print(value);
    replyEnd();
  } else if (strcmp(cmd, "RELEASEALL") == 0) {
    if (count > 1) return ERR_BAD_ARGUMENT;
    releaseAll();
    Serial.print(F("OK RELEASEALL"));
    replyEnd();
  } else if (strcmp(cmd, "QUERY") == 0) {
    if (count == 1) {
      Serial.print(F("OK QUERY HELD "));
      bool any = false;
      for (uint8_t i = 0; i < CHANNELS; i++) {
        if (!held[i]) continue;
        if (any) Serial.print(',');
        Serial.print(i + 1);
        any = true;
      }
      if (!any) Serial.print('-');
      replyEnd();
    } else {
      if ((err = channelArg(words[1], &ch))) return err;
      if (count > 2) return ERR_BAD_ARGUMENT;
      Serial.print(F("OK QUERY "));
      Serial.print(ch);
      Serial.print(held[ch - 1] ? F(" HELD") : F(" RELEASED"));
      replyEnd();
    }
  } else {
    return ERR_UNKNOWN_COMMAND;
  }
  return 0;
}

static void endOfLine() {
  if (overlong) {
    replyErr(ERR_LINE_TOO_LONG);
  } else if (badByte && lineLen > 0) {
    replyErr(ERR_UNKNOWN_COMMAND);
  } else if (lineLen > 0) {
    line[lineLen] = '\0';
    uint8_t err = execute(line);
    if (err) replyErr(err);
  }
  lineLen = 0;
  overlong = false;
  badByte = false;
}

void setup() {
  // Timers 1-5 run only for analogWrite()'s PWM, which no pin here uses. Stopped, they change
  // nothing on the board, and an emulator (lab/actuator/sim) skips the idle time between
  // timer ticks far quicker.
#ifdef TCCR1B
  TCCR1B = 0;
#endif
#ifdef TCCR2B
  TCCR2B = 0;
#endif
#ifdef TCCR3B
  TCCR3B = 0;
#endif
#ifdef TCCR4B
  TCCR4B = 0;
#endif
#ifdef TCCR5B
  TCCR5B = 0;
#endif
  for (uint8_t i = 0; i < CHANNELS; i++) {
    pinMode(PINS[i], OUTPUT);
  }
  releaseAll();
  Serial.begin(115200);
  Serial.print(F("READY yealink-actuator 1 channels="));
  Serial.print(CHANNELS);
  Serial.print(F("\r\n"));
}

static void receive(char c) {
  if (c == '\n') {
    if (!lastWasCr) endOfLine();  // "\r\n" ends one line, not two
    lastWasCr = false;
  } else if (c == '\r') {
    endOfLine();
    lastWasCr = true;
  } else {
    lastWasCr = false;
    if (lineLen >= LINE_MAX) {
      overlong = true;  // discard up to the terminator; one error for the whole line
    } else if (c < 0x20 || c > 0x7E) {
      badByte = true;
      line[lineLen++] = '?';
    } else {
      line[lineLen++] = c;
    }
  }
}

// Sleeps until the next interrupt: the 1.024 ms timer tick behind millis(), or a byte
// received. Interrupts are enabled by the instruction just before SLEEP, so a byte that
// arrives after the check still wakes the board. Idle mode keeps the UART and timers running.
static void idle() {
  set_sleep_mode(SLEEP_MODE_IDLE);
  noInterrupts();
  if (pendingLen == 0 && Serial.available() == 0) {
    sleep_enable();
    interrupts();
    sleep_cpu();
    sleep_disable();
  }
  interrupts();
}

void loop() {
  watchdog();
  for (int c = nextByte(); c >= 0; c = nextByte()) {
    receive((char)c);
  }
  idle();
}
