// Reference firmware of the button actuator: lab/actuator/PROTOCOL.md, version 1.
//
// Board: Arduino Mega 2560 (any 5 V AVR board works with fewer channels: set CHANNELS and
// PINS). Each channel's pin drives an optocoupler (PC817 or similar) or a logic-level MOSFET
// with a small solenoid, wired across one key's contacts (lab/actuator/WIRING.md). HIGH =
// pressed. The USB serial port resets the board when a host opens it (DTR), so every open
// starts with all keys released and the READY banner.

#include <Arduino.h>
#include <string.h>
#include <stdlib.h>

static const uint8_t CHANNELS = 24;
// Channel n (1-based) drives PINS[n - 1]. Pins 22-45 sit together on the Mega's double header.
static const uint8_t PINS[CHANNELS] = {22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33,
                                       34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45};
static const uint8_t LINE_MAX = 64;
static const unsigned long TAP_MAX_MS = 60000UL;
static const unsigned long HOLD_DEFAULT_MS = 120000UL;
static const unsigned long HOLD_MAX_MS = 3600000UL;

static bool held[CHANNELS];
static unsigned long heldSince[CHANNELS];
static unsigned long holdLimit[CHANNELS];

static char line[LINE_MAX + 1];
static uint8_t lineLen = 0;
static bool overlong = false;
static bool badByte = false;
static bool lastWasCr = false;

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

static void replyErr(uint8_t code, const __FlashStringHelper *text) {
  Serial.print(F("ERR "));
  Serial.print(code);
  Serial.print(' ');
  Serial.print(text);
  Serial.print(F("\r\n"));
}

// A decimal number without sign, 1 to max; false when not.
static bool number(const char *word, unsigned long max, unsigned long *out) {
  if (word == NULL || *word == '\0' || strlen(word) > 7) return false;
  unsigned long value = 0;
  for (const char *p = word; *p; p++) {
    if (*p < '0' || *p > '9') return false;
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

static void execute(char *text) {
  char *words[4];
  uint8_t count = 0;
  for (char *w = strtok(text, " "); w != NULL; w = strtok(NULL, " ")) {
    if (count == 4) {
      replyErr(3, F("bad argument"));
      return;
    }
    words[count++] = w;
  }
  if (count == 0) return;  // a line of spaces: empty, no reply
  upcase(words[0]);
  const char *cmd = words[0];
  unsigned long ch = 0, value = 0;

  if (strcmp(cmd, "HELLO") == 0) {
    if (count != 1) { replyErr(3, F("bad argument")); return; }
    Serial.print(F("OK HELLO yealink-actuator 1 channels="));
    Serial.print(CHANNELS);
    Serial.print(F("\r\n"));
  } else if (strcmp(cmd, "HOLD") == 0) {
    if (count < 2 || count > 3) { replyErr(3, F("bad argument")); return; }
    if (!number(words[1], CHANNELS, &ch)) { replyErr(2, F("bad channel")); return; }
    value = HOLD_DEFAULT_MS;
    if (count == 3 && !number(words[2], HOLD_MAX_MS, &value)) { replyErr(3, F("bad argument")); return; }
    press(ch, true);
    held[ch - 1] = true;
    heldSince[ch - 1] = millis();  // holding a held key restarts its watchdog
    holdLimit[ch - 1] = value;
    Serial.print(F("OK HOLD "));
    Serial.print(ch);
    if (count == 3) { Serial.print(' '); Serial.print(value); }
    Serial.print(F("\r\n"));
  } else if (strcmp(cmd, "RELEASE") == 0) {
    if (count != 2) { replyErr(3, F("bad argument")); return; }
    if (!number(words[1], CHANNELS, &ch)) { replyErr(2, F("bad channel")); return; }
    press(ch, false);
    held[ch - 1] = false;
    Serial.print(F("OK RELEASE "));
    Serial.print(ch);
    Serial.print(F("\r\n"));
  } else if (strcmp(cmd, "TAP") == 0) {
    if (count != 3) { replyErr(3, F("bad argument")); return; }
    if (!number(words[1], CHANNELS, &ch)) { replyErr(2, F("bad channel")); return; }
    if (!number(words[2], TAP_MAX_MS, &value)) { replyErr(3, F("bad argument")); return; }
    if (held[ch - 1]) { replyErr(5, F("channel busy")); return; }
    press(ch, true);
    unsigned long start = millis();
    while (millis() - start < value) watchdog();  // other held keys keep their watchdog
    press(ch, false);
    Serial.print(F("OK TAP "));
    Serial.print(ch);
    Serial.print(' ');
    Serial.print(value);
    Serial.print(F("\r\n"));
  } else if (strcmp(cmd, "RELEASEALL") == 0) {
    if (count != 1) { replyErr(3, F("bad argument")); return; }
    releaseAll();
    Serial.print(F("OK RELEASEALL\r\n"));
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
      Serial.print(F("\r\n"));
    } else if (count == 2) {
      if (!number(words[1], CHANNELS, &ch)) { replyErr(2, F("bad channel")); return; }
      Serial.print(F("OK QUERY "));
      Serial.print(ch);
      Serial.print(held[ch - 1] ? F(" HELD\r\n") : F(" RELEASED\r\n"));
    } else {
      replyErr(3, F("bad argument"));
    }
  } else {
    replyErr(1, F("unknown command"));
  }
}

static void endOfLine() {
  if (overlong) {
    replyErr(4, F("line too long"));
  } else if (badByte && lineLen > 0) {
    replyErr(1, F("unknown command"));
  } else if (lineLen > 0) {
    line[lineLen] = '\0';
    execute(line);
  }
  lineLen = 0;
  overlong = false;
  badByte = false;
}

void setup() {
  for (uint8_t i = 0; i < CHANNELS; i++) {
    pinMode(PINS[i], OUTPUT);
  }
  releaseAll();
  Serial.begin(115200);
  Serial.print(F("READY yealink-actuator 1 channels="));
  Serial.print(CHANNELS);
  Serial.print(F("\r\n"));
}

void loop() {
  watchdog();
  while (Serial.available() > 0) {
    char c = (char)Serial.read();
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
}
